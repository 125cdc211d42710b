import assert from "node:assert/strict";
import { test } from "node:test";
import { at, capture } from "../../test/helpers/captured-output.ts";
import { INTERRUPTED, type RootstockEvent, type TimedEvent } from "../events.ts";
import { formatBytes } from "../units.ts";
import { createProgressReporter } from "./progress-reporter.ts";

const KEY = "k".repeat(64);

/** A reporter drawing its live status line (redrawn only when asked), and the status lines it drew. */
function liveReporter() {
  const { context, text } = capture();
  const reporter = createProgressReporter(context, {
    live: true,
    planArg: "p",
    refreshHz: 0.001,
    columns: 200,
  });
  const status = () =>
    text()
      .split("\r\x1b[K")
      .filter((part) => part.includes("["));
  return { reporter, status };
}

/** A step's first attempt starting on one job, expected to take `estimateMs`. */
const started = (step: string, estimateMs: number): RootstockEvent => ({
  type: "step:start",
  step,
  key: KEY,
  attempt: 1,
  attempts: 1,
  jobs: 1,
  worker: 0,
  log: "/l",
  estimateMs,
});

/** A run of these steps starting now on `jobs` jobs, with what the schedule says of each. */
function schedule(
  reporter: ReturnType<typeof createProgressReporter>,
  now: number,
  jobs: number,
  steps: { step: string; estimateMs?: number; deps?: string[] }[],
): void {
  const names = steps.map(({ step }) => step);
  reporter.listener(at(now, { type: "run:start", runId: "r", plan: "p", runDir: "/r", steps: names, jobs }));
  reporter.listener(at(now, { type: "run:schedule", jobs, steps }));
}

test("plain lines: starts, results with sizes, failures with their log tail and the shell command", () => {
  const { context, text } = capture();
  const reporter = createProgressReporter(context, { live: false, planArg: "plans/x" });
  const events: TimedEvent[] = [
    at(0, {
      type: "run:start",
      runId: "r1",
      plan: "x",
      runDir: "/s/runs/r1",
      steps: ["a", "b", "c"],
      jobs: 2,
    }),
    at(1, { type: "step:cached", step: "c", key: KEY }),
    at(2, {
      type: "step:start",
      step: "a",
      key: KEY,
      attempt: 1,
      attempts: 2,
      jobs: 2,
      worker: 0,
      log: "/l/a",
    }),
    at(3, {
      type: "step:attempt-failed",
      step: "a",
      attempt: 1,
      reason: "exited with status 1",
      retrying: true,
    }),
    at(1500, { type: "step:done", step: "a", key: KEY, ms: 1500, worker: 0, bytes: 2048 }),
    at(1600, {
      type: "step:failed",
      step: "b",
      key: KEY,
      ms: 10,
      worker: 1,
      reason: "exited with status 2",
      log: "/l/b",
      tail: ["cc: error: no such file", "\u001b[2Jcleared"],
    }),
    at(1700, { type: "run:done", runId: "r1", ok: false, built: 1, cached: 1, failed: ["b"], ms: 1700 }),
  ];
  for (const event of events) reporter.listener(event);
  reporter.stop();
  assert.equal(
    text(),
    [
      "run r1: 3 steps, 2 at once",
      "▶ a (attempt 1 of 2)",
      "↻ a: attempt 1 failed (exited with status 1); retrying",
      "✓ a                       1.5s  2.0 KiB",
      "✗ b failed: exited with status 2",
      "    │ cc: error: no such file",
      "    │ cleared",
      "    log:   /l/b",
      "    shell: rootstock shell plans/x b",
      "run r1 failed: 1 built, 1 cached, 1 failed in 1.7s",
      "",
    ].join("\n"),
  );
});

test("live status: steps done of total, running steps with elapsed time, an ETA from earlier durations", () => {
  const { reporter, status } = liveReporter();
  const now = Date.now();
  reporter.listener(
    at(now, { type: "run:start", runId: "r", plan: "p", runDir: "/r", steps: ["a", "b", "c"], jobs: 1 }),
  );
  reporter.listener(at(now, { type: "step:cached", step: "c", key: KEY }));
  reporter.listener(
    at(now, {
      type: "run:schedule",
      jobs: 1,
      steps: [
        { step: "a", estimateMs: 60_000 },
        { step: "b", estimateMs: 30_000 },
      ],
    }),
  );
  reporter.listener(at(now - 10_000, started("a", 60_000)));
  reporter.stop();
  // 1 of 3 done (c cached); a has run 10 s; 50 s of a and 30 s of b remain on one job.
  assert.match(status().at(-1) ?? "", /^\[1\/3\] ETA 1m(19|20)s · a 1[01]s$/);
});

test("a step no earlier run timed counts as the median of those that were, and does not hide the ETA", () => {
  const { reporter, status } = liveReporter();
  const now = Date.now();
  schedule(reporter, now, 1, [
    { step: "a", estimateMs: 20_000 },
    { step: "b", estimateMs: 40_000 },
    { step: "new" },
  ]);
  reporter.listener(at(now, started("a", 20_000)));
  reporter.stop();
  // 20 s of a, 40 s of b, and 40 s (the median of 20 and 40 taken as the upper middle) for the new step.
  assert.match(status().at(-1) ?? "", /ETA 1m4\ds · a/);
});

test("the ETA follows steps that must run one after another, however many jobs there are", () => {
  const { reporter, status } = liveReporter();
  const now = Date.now();
  schedule(reporter, now, 8, [
    { step: "a", estimateMs: 4_000 },
    { step: "b", estimateMs: 4_000, deps: ["a"] },
    { step: "c", estimateMs: 4_000, deps: ["b"] },
  ]);
  reporter.listener(at(now - 1_000, started("a", 4_000)));
  reporter.stop();
  // 3 s of a, then b, then c: 11 s, not 12 s of work over 8 jobs.
  assert.match(status().at(-1) ?? "", /^\[0\/3\] ETA 1[01](\.\d)?s · a /);
});

test("after a failure without --keep-going, the ETA is of the steps still running", () => {
  const { reporter, status } = liveReporter();
  const now = Date.now();
  schedule(reporter, now, 2, [
    { step: "a", estimateMs: 3_000 },
    { step: "b", estimateMs: 30_000, deps: ["a"] },
    { step: "d", estimateMs: 1_000 },
  ]);
  reporter.listener(at(now, started("a", 3_000)));
  reporter.listener(at(now, started("d", 1_000)));
  reporter.listener(
    at(now, {
      type: "step:failed",
      step: "d",
      key: KEY,
      reason: "exited with status 1",
      tail: [],
      log: "/l",
      ms: 5,
      worker: 1,
    }),
  );
  reporter.stop();
  // b will not start: what is left is a's 3 s.
  assert.match(status().at(-1) ?? "", /^\[1\/3\] ETA [23](\.\d)?s · a /);
});

test("a step past its usual time makes the ETA unknown, not 0ms", () => {
  const { reporter, status } = liveReporter();
  const now = Date.now();
  reporter.listener(
    at(now, { type: "run:start", runId: "r", plan: "p", runDir: "/r", steps: ["slow"], jobs: 1 }),
  );
  reporter.listener(at(now, { type: "run:schedule", jobs: 1, steps: [{ step: "slow", estimateMs: 4_000 }] }));
  reporter.listener(at(now - 9_000, started("slow", 4_000)));
  reporter.stop();
  assert.match(status().at(-1) ?? "", /^\[0\/1\] ETA \? \(slow runs past its usual time\) · slow 9\.\ds$/);
});

test("the summary line is written clear of the status line, and counts every step", () => {
  const { context, text } = capture();
  const reporter = createProgressReporter(context, {
    live: true,
    planArg: "p",
    refreshHz: 0.001,
    columns: 200,
  });
  const now = Date.now();
  schedule(reporter, now, 1, [{ step: "f" }, { step: "d", deps: ["f"] }, { step: "x" }, { step: "y" }]);
  reporter.listener(at(now, started("f", 1_000)));
  reporter.listener(
    at(now, {
      type: "step:failed",
      step: "f",
      key: KEY,
      reason: "exited with status 3",
      tail: [],
      log: "/l",
      ms: 5,
      worker: 0,
    }),
  );
  reporter.listener(at(now, { type: "step:skipped", step: "d", because: "depends on f, which failed" }));
  for (const step of ["x", "y"])
    reporter.listener(
      at(now, { type: "step:skipped", step, because: "not started: the run stops at the first failure" }),
    );
  reporter.listener(
    at(now, { type: "run:done", runId: "r", ok: false, built: 0, cached: 0, failed: ["f"], ms: 10 }),
  );
  reporter.stop();
  // What the terminal keeps of each line: the text after the last clearing of it.
  const lines = text()
    .split("\n")
    .map((line) => line.split("\r\x1b[K").at(-1));
  const summary = lines.find((line) => line?.includes("run r failed")) ?? "";
  assert.equal(summary, "run r failed: 0 built, 0 cached, 1 failed, 1 skipped, 2 not started in 10ms");
  assert.ok(
    lines.some((line) => line === "- 2 steps not started: the run stops at the first failure"),
    text(),
  );
});

test("a wide character takes two columns of the status line", async () => {
  const { context, text } = capture();
  const reporter = createProgressReporter(context, {
    live: true,
    planArg: "p",
    refreshHz: 0.001,
    columns: 21,
  });
  // cli-truncate is loaded when the reporter starts.
  await new Promise((resolve) => setTimeout(resolve, 100));
  const now = Date.now();
  reporter.listener(
    at(now, {
      type: "run:start",
      runId: "r",
      plan: "p",
      runDir: "/r",
      steps: ["日本語のテスト名前"],
      jobs: 1,
    }),
  );
  reporter.listener(at(now, started("日本語のテスト名前", 1_000)));
  reporter.stop();
  const drawn =
    text()
      .split("\r\x1b[K")
      .filter((part) => part.includes("[0/1]"))
      .at(-1) ?? "";
  // 20 columns: "[0/1] " (6), seven wide characters (14) would be 20; with the ellipsis it is six (12) and "…".
  assert.equal(drawn, "[0/1] 日本語のテス…");
});

test("sources a run fetches first are shown as fetch shows them, before the run's own lines", async () => {
  const { context, text } = capture();
  const reporter = createProgressReporter(context, { live: false, planArg: "p" });
  reporter.listener(at(0, { type: "fetch:plan", missing: 1, present: 0, bytes: 0, unsized: 1 }));
  reporter.listener(
    at(1, {
      type: "fetch:done",
      sha256: "a".repeat(64),
      file: "big.tar.gz",
      from: "https://example.org/big.tar.gz",
      bytes: 2048,
      ms: 1500,
    }),
  );
  reporter.listener(at(2, { type: "run:start", runId: "r", plan: "p", runDir: "/r", steps: ["s"], jobs: 1 }));
  await new Promise((resolve) => setTimeout(resolve, 100));
  reporter.stop();
  const lines = text().split("\n");
  assert.equal(lines[0], "fetch: 1 to fetch, 0 present");
  assert.match(
    lines[1] ?? "",
    /^ {2}ok {3}big\.tar\.gz 2\.0 KiB in 1\.5 s from https:\/\/example\.org\/big\.tar\.gz$/,
  );
  assert.equal(lines[2], "run r: 1 step, 1 at once");
});

test("sizes in binary units", () => {
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(50 * 1024 * 1024), "50 MiB");
});

test("--explain lines say why each step runs, and what became of its last build with the same inputs", () => {
  const { context, text } = capture();
  const reporter = createProgressReporter(context, { live: false, planArg: "p" });
  const reasons: [string, Extract<RootstockEvent, { type: "step:explain" }>["reason"]][] = [
    ["kept", { kind: "cached" }],
    ["fresh", { kind: "no-entry" }],
    ["broke", { kind: "no-entry", before: { outcome: "failed", runId: "r1" } }],
    ["cut", { kind: "no-entry", before: { outcome: "unfinished", runId: "r2" } }],
    ["gone", { kind: "no-entry", before: { outcome: "removed", runId: "r3" } }],
    ["edited", { kind: "changed", inputs: ["script", "dep:a"] }],
  ];
  for (const [step, reason] of reasons)
    reporter.listener(
      at(0, { type: "step:explain", step, key: KEY, runs: reason.kind !== "cached", reason }),
    );
  const lines = text().split("\n");
  const line = (step: string) => lines.find((candidate) => candidate.startsWith(step)) ?? "";
  assert.match(line("kept"), /cached$/);
  assert.match(line("fresh"), /no earlier build of it by this plan to compare with/);
  assert.match(line("broke"), /its last build with these inputs failed \(run r1\)/);
  assert.match(line("cut"), /its last build with these inputs did not finish \(run r2\)/);
  assert.match(line("gone"), /built with these inputs in run r3, and the entry was removed since/);
  assert.match(line("edited"), /runs: changed script, dep:a/);
});

test("steps never started (Ctrl-C, or a first failure) are one line per reason; a dependent of a failure its own", () => {
  const { context, text } = capture();
  const reporter = createProgressReporter(context, { live: false, planArg: "p" });
  const stopped = "not started: the run stops at the first failure (a); --keep-going builds the rest";
  const events: TimedEvent[] = [
    at(0, {
      type: "run:start",
      runId: "r",
      plan: "p",
      runDir: "/r",
      steps: ["a", "b", "c", "d", "e"],
      jobs: 1,
    }),
    at(1, { type: "step:skipped", step: "b", because: "depends on a, which failed" }),
    ...["c", "d", "e"].map((step) => at(2, { type: "step:skipped", step, because: INTERRUPTED })),
    at(3, { type: "step:skipped", step: "f", because: stopped }),
    at(4, { type: "run:done", runId: "r", ok: false, built: 0, cached: 0, failed: ["a"], ms: 4 }),
  ];
  for (const event of events) reporter.listener(event);
  reporter.stop();
  const lines = text().split("\n");
  assert.ok(lines.includes("- b skipped: depends on a, which failed"), text());
  assert.ok(lines.includes("- 3 steps not started: the run was interrupted"), text());
  assert.ok(lines.includes(`- 1 step ${stopped}`), text());
  assert.ok(!lines.some((line) => /^- [cde] skipped/.test(line)), text());
});
