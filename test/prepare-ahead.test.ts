/**
 * A step whose last dependency is building, or that waits only for a free slot, has its work folder
 * prepared meanwhile (sources unpacked, files copied) and its sandbox set up and held; what was
 * prepared for a step that never starts is removed, and a held sandbox is used only if the output it
 * mounted is the one committed.
 */
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { runPlan } from "../src/build/run-plan.ts";
import type { RootstockEvent } from "../src/events.ts";
import {
  admit,
  makeTarball,
  resolve,
  sourceToml,
  type Tarball,
  type Workbench,
  workbench,
  writePlan,
} from "./helpers/fixture-plan.ts";
import { processesNaming } from "./helpers/processes.ts";

let bench: Workbench;
let tarball: Tarball;
before(async () => {
  bench = await workbench();
  tarball = await makeTarball(bench.dir, "ahead-1.0.tar.gz", { "ahead.c": "int x;\n" }, { top: "ahead-1.0" });
  await admit(bench.storeDir, tarball);
});
after(() => bench.remove());

/**
 * Shell functions for `first`, a host step: it sees the store, so what was prepared for `second`, but
 * not other processes (it has a PID namespace of its own); the test tells it of a held sandbox.
 */
function probes(heldMark: string): string {
  return `second="$(dirname "$(dirname "$BUILD")")/second"
source_unpacked() { [ -f "$second/build/src/ahead.c" ]; }
sandbox_held() { [ -f "${heldMark}" ]; }
# Waits at most ten seconds for a probe.
await() {
  i=0
  until "$1"; do
    i=$((i + 1)); [ "$i" -lt 200 ] || { echo "second: $1 never held" >&2; exit 1; }
    sleep 0.05
  done
}
`;
}

/** Marks, while `running` lasts, when a sandbox is held for a step named `second` of the test's store. */
async function markHeld<T>(heldMark: string, running: Promise<T>): Promise<T> {
  const watch = setInterval(() => {
    if (heldSandboxes(join(bench.storeDir, "work")).length > 0) writeFileSync(heldMark, "");
  }, 20);
  try {
    return await running;
  } finally {
    clearInterval(watch);
  }
}

/**
 * `first` waits until `second`'s source is unpacked and its sandbox set up and held, which only
 * preparing ahead can have done before `first` ends; `second` reads what `first` left.
 */
function plan(then: string, heldMark: string, { name = "ahead", secondDependsOnFirst = true } = {}) {
  return {
    name,
    steps: {
      // Listed first: with one slot and no dependency between them, it is started first.
      first: {
        toml: 'version = "1"\nsandbox = "host"\n',
        script: `${probes(heldMark)}do_install() {
  await source_unpacked
  await sandbox_held
  ${then}
}
`,
      },
      second: secondDependsOnFirst
        ? {
            toml: `version = "1"\ndeps = ["first"]\n${sourceToml(tarball)}`,
            script: 'do_install() { cp "$SRC/ahead.c" /deps/first/seen "$OUT/"; }\n',
          }
        : {
            toml: `version = "1"\n${sourceToml(tarball)}`,
            script: 'do_install() { cp "$SRC/ahead.c" "$OUT/"; }\n',
          },
    },
  };
}

test("the next step's work folder is prepared and its sandbox set up while its last dependency builds", async () => {
  const heldMark = join(bench.dir, "prepared-held");
  const planDir = await writePlan(join(bench.dir, "prepared"), plan('echo seen > "$OUT/seen"', heldMark));
  const events: RootstockEvent[] = [];
  const result = await markHeld(
    heldMark,
    runPlan(await resolve(planDir), {
      storeDir: bench.storeDir,
      jobs: 1,
      emit: (event) => events.push(event),
    }),
  );
  assert.equal(result.ok, true, JSON.stringify(events.filter((event) => event.type === "step:failed")));
  assert.deepEqual(result.built, ["first", "second"]);
  const second = result.outputs.get("second")?.path as string;
  assert.equal(await readFile(join(second, "ahead.c"), "utf8"), "int x;\n");
  // The sandbox was set up before `first` was committed, and sees its output as committed.
  assert.equal(await readFile(join(second, "seen"), "utf8"), "seen\n");
  // The log of the prepared step reads as any other: one header, the unpacking, then the phases.
  const log = await readFile(join(result.runDir, "logs", "second.log"), "utf8");
  assert.equal(log.match(/attempt 1 of 1/g)?.length, 1);
  assert.ok(log.indexOf("unpacking ahead-1.0.tar.gz") < log.indexOf("==> rootstock: install"), log);
  assert.equal(existsSync(join(bench.storeDir, "work", result.runId)), false);
});

test("what was prepared for a step that never starts is removed", async () => {
  const heldMark = join(bench.dir, "discarded-held");
  const planDir = await writePlan(
    join(bench.dir, "discarded"),
    plan('echo "first fails" >&2; exit 4', heldMark),
  );
  const result = await markHeld(
    heldMark,
    runPlan(await resolve(planDir), { storeDir: bench.storeDir, jobs: 1 }),
  );
  assert.equal(result.ok, false);
  assert.deepEqual(result.failed, ["first"]);
  assert.deepEqual(
    result.skipped.map((skip) => skip.name),
    ["second"],
  );
  assert.equal(existsSync(join(bench.storeDir, "work", result.runId, "second")), false);
  assert.equal(existsSync(join(result.runDir, "logs", "second.log")), false);
  // The failed step's folder is kept for `rootstock shell`.
  assert.equal(existsSync(join(bench.storeDir, "work", result.runId, "first")), true);
  // The sandbox held for `second` is gone with everything in it.
  assert.deepEqual(heldSandboxes(join(bench.storeDir, "work", result.runId, "second")), []);
});

test("a step that waits only for a free slot is prepared and its sandbox set up meanwhile", async () => {
  const heldMark = join(bench.dir, "waiting-held");
  const planDir = await writePlan(
    join(bench.dir, "waiting"),
    plan('echo done > "$OUT/done"', heldMark, { name: "waiting", secondDependsOnFirst: false }),
  );
  const result = await markHeld(
    heldMark,
    runPlan(await resolve(planDir), { storeDir: bench.storeDir, jobs: 1 }),
  );
  assert.equal(result.ok, true);
  assert.deepEqual(result.built, ["first", "second"]);
  assert.equal(
    await readFile(join(result.outputs.get("second")?.path as string, "ahead.c"), "utf8"),
    "int x;\n",
  );
});

test("a sandbox held while its dependency's first attempt built is not used after a retry", async () => {
  const counter = join(bench.dir, "retried-attempts");
  const heldMark = join(bench.dir, "retried-held");
  const planDir = await writePlan(join(bench.dir, "retried"), {
    name: "retried",
    steps: {
      // Its first attempt fails once second's sandbox is held on that attempt's output folder; the
      // second attempt builds in a new folder.
      first: {
        toml: `version = "1"\nsandbox = "host"\nretries = 1\n[env]\nCOUNTER = "${counter}"\n`,
        script: `${probes(heldMark)}do_install() {
  echo x >> "$COUNTER"
  if [ "$(wc -l < "$COUNTER")" -eq 1 ]; then
    await sandbox_held
    echo one > "$OUT/value"
    exit 3
  fi
  echo two > "$OUT/value"
}
`,
      },
      second: {
        toml: 'version = "1"\ndeps = ["first"]\n',
        script: 'do_install() { cp /deps/first/value "$OUT/"; }\n',
      },
    },
  });
  const result = await markHeld(
    heldMark,
    runPlan(await resolve(planDir), { storeDir: bench.storeDir, jobs: 1 }),
  );
  assert.equal(result.ok, true);
  assert.equal(await readFile(join(result.outputs.get("second")?.path as string, "value"), "utf8"), "two\n");
  const log = await readFile(join(result.runDir, "logs", "second.log"), "utf8");
  assert.equal(log.match(/attempt 1 of 1/g)?.length, 1, log);
  assert.doesNotMatch(log, /bwrap:/);
  assert.deepEqual(heldSandboxes(join(bench.storeDir, "work", result.runId, "second")), []);
});

/** Processes of sandboxes held for a step named `second` with a work folder under this one. */
function heldSandboxes(workDir: string): number[] {
  return processesNaming(`${workDir}/`, "/second/", "echo >&4");
}
