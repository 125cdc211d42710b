/** A failing step with retries, a flaky step, a timeout that kills the whole process tree, --keep-going. */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { runPlan } from "../src/build/run-plan.ts";
import type { RootstockEvent } from "../src/events.ts";
import { readRunRecord } from "../src/store/run-record.ts";
import {
  processesMentioning,
  resolve,
  type Workbench,
  workbench,
  writePlan,
} from "./helpers/fixture-plan.ts";
import { rootstock } from "./helpers/rootstock-process.ts";

let bench: Workbench;
before(async () => {
  bench = await workbench();
});
after(() => bench.remove());

function collect() {
  const events: RootstockEvent[] = [];
  const emit = (event: RootstockEvent) => events.push(event);
  const of = <T extends RootstockEvent["type"]>(type: T) =>
    events.filter((event): event is Extract<RootstockEvent, { type: T }> => event.type === type);
  return { events, emit, of };
}

test("a failing step is retried, each attempt logged, and its build folder is kept", async () => {
  const planDir = await writePlan(join(bench.dir, "retries"), {
    name: "retries",
    steps: {
      broken: {
        toml: 'version = "1"\nretries = 2\n',
        // Its last words lack a newline: rootstock's own lines in the log still start lines of their own.
        script:
          'do_compile() { echo "partial work" > notes.txt; echo "compiler says no" >&2; printf "no newline"; exit 3; }\n',
      },
    },
  });
  const seen = collect();
  const result = await runPlan(await resolve(planDir), {
    storeDir: bench.storeDir,
    jobs: 1,
    emit: seen.emit,
  });
  assert.equal(result.ok, false);
  assert.deepEqual(result.failed, ["broken"]);
  assert.deepEqual(
    seen.of("step:start").map((event) => `${event.attempt}/${event.attempts}`),
    ["1/3", "2/3", "3/3"],
  );
  assert.deepEqual(
    seen.of("step:attempt-failed").map((event) => [event.reason, event.retrying]),
    [
      ["exited with status 3", true],
      ["exited with status 3", true],
      ["exited with status 3", false],
    ],
  );
  const [failed] = seen.of("step:failed");
  assert.equal(failed?.reason, "exited with status 3");
  assert.ok(failed?.tail.some((line) => line.includes("compiler says no")));
  const log = await readFile(failed?.log as string, "utf8");
  assert.equal(log.match(/compiler says no/g)?.length, 3, "every attempt's output is in the log");
  assert.match(log, /attempt 3 of 3/);
  assert.equal(log.match(/^no newline\n==> rootstock: broken, attempt \d failed/gm)?.length, 3, log);
  assert.equal(
    await readFile(join(failed?.buildDir as string, "build", "notes.txt"), "utf8"),
    "partial work\n",
  );
});

test("a flaky step succeeds on a later attempt", async () => {
  const counter = join(bench.dir, "flaky-attempts");
  const planDir = await writePlan(join(bench.dir, "flaky"), {
    name: "flaky",
    steps: {
      flaky: {
        // A host step may touch the host: it counts its attempts in a file of the test's.
        toml: `version = "1"\nsandbox = "host"\nretries = 2\n[env]\nCOUNTER = "${counter}"\n`,
        script: [
          "do_compile() {",
          '  echo x >> "$COUNTER"',
          '  [ "$(wc -l < "$COUNTER")" -ge 2 ] || { echo "flaked" >&2; exit 1; }',
          '  echo ok > "$OUT/result"',
          "}",
          "",
        ].join("\n"),
      },
    },
  });
  const seen = collect();
  const result = await runPlan(await resolve(planDir), {
    storeDir: bench.storeDir,
    jobs: 1,
    emit: seen.emit,
  });
  assert.equal(result.ok, true);
  assert.deepEqual(
    seen.of("step:attempt-failed").map((event) => event.retrying),
    [true],
  );
  assert.equal(await readFile(join(result.outputs.get("flaky")?.path as string, "result"), "utf8"), "ok\n");
});

test("a timeout kills the hung step's whole process tree and says so", async () => {
  const marker = `rootstock-hang-${randomBytes(6).toString("hex")}`;
  const planDir = await writePlan(join(bench.dir, "timeout"), {
    name: "timeout",
    steps: {
      hang: {
        toml: 'version = "1"\ntimeout = "1s"\n',
        // A background child, one in a session of its own, and the script itself: all hang.
        script: [
          "do_compile() {",
          `  cp /bin/sleep /tmp/${marker}`,
          `  /tmp/${marker} 3600 &`,
          `  setsid /tmp/${marker} 3600 &`,
          `  /tmp/${marker} 3600`,
          "}",
          "",
        ].join("\n"),
      },
    },
  });
  const seen = collect();
  const result = await runPlan(await resolve(planDir), {
    storeDir: bench.storeDir,
    jobs: 1,
    emit: seen.emit,
  });
  assert.equal(result.ok, false);
  const [failed] = seen.of("step:failed");
  assert.match(failed?.reason ?? "", /^timed out after 1\.0s; its processes were killed$/);
  assert.deepEqual(processesMentioning(marker), [], "no process of the sandbox survives");
  assert.match(await readFile(failed?.log as string, "utf8"), /timed out after 1\.0s/);
});

test("--keep-going builds everything that does not depend on a failure; without it nothing new starts", async () => {
  const planDir = await writePlan(join(bench.dir, "keep-going"), {
    name: "keep-going",
    steps: {
      bad: { script: "do_compile() { exit 1; }\n" },
      "after-bad": { toml: 'version = "1"\ndeps = ["bad"]\n', script: 'do_install() { touch "$OUT/x"; }\n' },
      good: { script: 'do_install() { touch "$OUT/good"; }\n' },
    },
  });
  const graph = await resolve(planDir);
  // One job: "bad" heads the longest path, so it runs first and "good" has not started when it fails.
  const stopped = await runPlan(graph, { storeDir: bench.storeDir, jobs: 1 });
  assert.deepEqual(stopped.failed, ["bad"]);
  assert.deepEqual(stopped.built, []);
  assert.deepEqual(Object.fromEntries(stopped.skipped.map((skip) => [skip.name, skip.because])), {
    "after-bad": "depends on bad, which failed",
    good: "not started: the run stops at the first failure (bad); --keep-going builds the rest",
  });

  const going = await runPlan(graph, { storeDir: bench.storeDir, jobs: 1, keepGoing: true });
  assert.deepEqual(going.failed, ["bad"]);
  assert.deepEqual(going.built, ["good"]);
  assert.deepEqual(
    going.skipped.map((skip) => skip.name),
    ["after-bad"],
  );
  assert.ok(await stat(going.outputs.get("good")?.path as string));
  assert.equal(going.outputs.has("after-bad"), false);
});

test("the command line reports a failure with its log tail and how to enter the build folder", async () => {
  const planDir = join(bench.dir, "keep-going");
  const result = await rootstock(["--store", bench.storeDir, "run", planDir, "-k", "-j", "1"]);
  assert.equal(result.code, 1);
  assert.match(result.stdout, /✗ bad failed: exited with status 1/);
  assert.match(result.stdout, new RegExp(`shell: rootstock shell --store ${bench.storeDir} ${planDir} bad`));
  assert.match(result.stdout, /- after-bad skipped: depends on bad, which failed/);
  assert.match(result.stderr, /error: 1 step failed: bad \[ERR_RUN_FAILED\]/);
  assert.match(result.stderr, /rootstock shell/);
});

test("an interruption that comes after the last step was committed stops nothing: the run is whole", async () => {
  const planDir = await writePlan(join(bench.dir, "late-interrupt"), {
    name: "late-interrupt",
    steps: { only: { script: 'do_install() { echo done > "$OUT/done"; }\n' } },
  });
  const controller = new AbortController();
  const seen = collect();
  const result = await runPlan(await resolve(planDir), {
    storeDir: bench.storeDir,
    jobs: 1,
    signal: controller.signal,
    emit: (event) => {
      seen.emit(event);
      if (event.type === "step:done") controller.abort();
    },
  });
  assert.equal(result.ok, true);
  assert.deepEqual(result.built, ["only"]);
  const [done] = seen.of("run:done");
  assert.equal(done?.ok, true);
  assert.equal(done?.interrupted, undefined);
  assert.equal((await readRunRecord(result.runDir))?.state, "ok");
});
