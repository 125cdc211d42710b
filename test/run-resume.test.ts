/**
 * rootstock killed with SIGKILL mid-step: no sandbox survives it, no partial entry is visible, and the
 * next run skips what was committed and carries on. Two runs on one store at once: no step is built
 * twice and every entry is whole.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { listRuns } from "../src/report/list-runs.ts";
import { computeManifest } from "../src/store/manifest.ts";
import { OutputStore } from "../src/store/output-store.ts";
import {
  processesMentioning,
  resolve,
  type Workbench,
  workbench,
  writePlan,
} from "./helpers/fixture-plan.ts";
import { finished, startRootstock } from "./helpers/rootstock-process.ts";

let bench: Workbench;
before(async () => {
  bench = await workbench();
});
after(() => bench.remove());

/** Resolves with the events a --json run has printed so far, once `until` holds for them. */
function eventsUntil(
  child: ReturnType<typeof startRootstock>,
  until: (events: { type: string; step?: string }[]) => boolean,
): Promise<{ type: string; step?: string }[]> {
  const events: { type: string; step?: string }[] = [];
  let buffer = "";
  return new Promise((resolve, reject) => {
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      buffer += chunk;
      let newline = buffer.indexOf("\n");
      while (newline >= 0) {
        events.push(JSON.parse(buffer.slice(0, newline)));
        buffer = buffer.slice(newline + 1);
        newline = buffer.indexOf("\n");
      }
      if (until(events)) resolve(events);
    });
    child.on("close", (code) => reject(new Error(`rootstock exited (${code}) before the condition held`)));
  });
}

/**
 * Polls until no process mentions any of the words (a sandbox's command line names its work folder in the
 * store; its steps' processes carry a marker). A sandbox that outlives rootstock keeps running, so a bug
 * shows as processes still there when the patience runs out, never as a pass by luck.
 */
async function noneLeft(...words: string[]): Promise<string[]> {
  const left = () => words.flatMap((word) => processesMentioning(word));
  for (let tries = 0; tries < 200 && left().length > 0; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return left();
}

test("a run killed with SIGKILL mid-step leaves no sandbox running and no partial entry; the next run resumes", async () => {
  const marker = `rootstock-killed-${randomBytes(6).toString("hex")}`;
  const gate = join(bench.dir, "gate");
  const planDir = await writePlan(join(bench.dir, "resume"), {
    name: "resume",
    steps: {
      quick: { script: 'do_install() { echo quick > "$OUT/quick"; }\n' },
      gated: {
        // A host step waits for a file of the test's: deterministic "mid-step", and the same key later.
        toml: `version = "1"\nsandbox = "host"\ndeps = ["quick"]\n[env]\nGATE = "${gate}"\n`,
        script: [
          "do_compile() {",
          `  cp /bin/sleep "$TMPDIR/${marker}"`,
          `  "$TMPDIR/${marker}" 3600 &`,
          '  echo partial > "$OUT/partial"',
          '  while [ ! -e "$GATE" ]; do sleep 0.05; done',
          '  echo gated > "$OUT/gated"',
          "}",
          "",
        ].join("\n"),
      },
      hang: {
        script: `do_compile() { cp /bin/sleep /tmp/${marker}; /tmp/${marker} 3600; }\n`,
      },
    },
  });
  const first = startRootstock(["--store", bench.storeDir, "run", planDir, "-j", "3", "--json"]);
  const closed = finished(first);
  await eventsUntil(first, (events) => {
    const started = new Set(events.filter((event) => event.type === "step:start").map((event) => event.step));
    return started.has("gated") && started.has("hang");
  });
  // At once: the sandboxes may still be setting up, before bwrap's own parent-death signal is armed.
  first.kill("SIGKILL");
  await closed;
  assert.deepEqual(
    (await listRuns(bench.storeDir)).map((run) => run.result),
    ["unfinished"],
    "rootstock runs shows a killed run as unfinished",
  );

  assert.deepEqual(await noneLeft(bench.storeDir, marker), [], "every sandbox died with rootstock");
  const graph = await resolve(planDir);
  const store = new OutputStore(bench.storeDir);
  const keys = await store.keys();
  assert.deepEqual(keys, [graph.byName.get("quick")?.key], "only the committed step has an entry");
  for (const key of keys) assert.ok(await store.record(key), "an entry present is complete");

  await writeFile(gate, "");
  const second = await finished(
    startRootstock(["--store", bench.storeDir, "run", planDir, "quick", "gated", "--json"]),
  );
  assert.equal(second.code, 0, second.stderr);
  const events = second.stdout
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line));
  assert.deepEqual(
    events.filter((event) => event.type === "step:cached").map((event) => event.step),
    ["quick"],
  );
  assert.deepEqual(
    events.filter((event) => event.type === "step:done").map((event) => event.step),
    ["gated"],
  );
  const gated = store.outputPath(graph.byName.get("gated")?.key as string);
  assert.deepEqual((await readdir(gated)).sort(), ["gated", "partial"]);
});

test("two runs on one store at once: each step is built exactly once and every entry is whole", async () => {
  const steps: Record<string, { toml?: string; script: string }> = {};
  const names = ["a", "b", "c", "d", "e", "f"];
  for (const [index, name] of names.entries()) {
    const deps = index >= 2 ? [names[index - 2] as string] : [];
    steps[name] = {
      toml: `version = "1"\ndeps = ${JSON.stringify(deps)}\n`,
      script: `do_compile() { sleep 0.2; head -c 100000 /dev/urandom > "$OUT/${name}.bin"; mkdir -p "$OUT/sub"; echo ${name} > "$OUT/sub/name"; }\n`,
    };
  }
  const planDir = await writePlan(join(bench.dir, "concurrent"), { name: "concurrent", steps });
  const store = join(bench.dir, "shared-store");
  const runs = await Promise.all(
    [0, 1].map(() => finished(startRootstock(["--store", store, "run", planDir, "-j", "2", "--json"]))),
  );
  const built: string[] = [];
  for (const run of runs) {
    assert.equal(run.code, 0, run.stderr);
    const events = run.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    const done = events.filter((event) => event.type === "step:done").map((event) => event.step);
    const cached = events.filter((event) => event.type === "step:cached").map((event) => event.step);
    assert.deepEqual([...done, ...cached].sort(), names, "each run ends with every step built or cached");
    built.push(...done);
  }
  assert.deepEqual(built.sort(), names, "no step was built by both runs");

  const outputs = new OutputStore(store);
  const keys = await outputs.keys();
  assert.equal(keys.length, names.length);
  for (const key of keys) {
    const record = await outputs.record(key);
    assert.deepEqual(
      (await computeManifest(outputs.outputPath(key))).digest,
      record?.digest,
      `entry ${record?.step} is whole`,
    );
  }
  assert.deepEqual(await readdir(outputs.tmpDir), [], "no staging leftovers");
  const name = await readFile(
    join(outputs.outputPath((await resolve(planDir)).byName.get("f")?.key as string), "sub", "name"),
    "utf8",
  );
  assert.equal(name, "f\n");
});
