/**
 * The boot test runner on real guests: one machine per module, cases in the order written, the rest of
 * a module skipped after a failure, events, JUnit XML, results.json and a console log per machine.
 */
import assert from "node:assert/strict";
import { access, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { runTests } from "../src/check/run-tests.ts";
import type { RootstockEvent } from "../src/events.ts";
import { CMDLINE, type TestGuest, testGuest } from "./fixtures/guest.ts";

let work: string;
let guest: TestGuest;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "rootstock-run-tests-"));
  guest = await testGuest({ storeDir: work });
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

const modules = (...names: string[]) =>
  names.map((name) => ({
    path: join(import.meta.dirname, "fixtures", "plan-tests", name),
    display: `tests/${name}`,
  }));

test("runs each module on its own machine and reports every case", async () => {
  const events: RootstockEvent[] = [];
  const runDir = join(work, "run");
  const result = await runTests(
    [
      {
        image: "initramfs",
        machine: { kernel: guest.kernel, initrd: guest.initrd.path, cmdline: CMDLINE, accel: "tcg" },
        modules: modules("boot.ts", "failing.ts", "broken.ts"),
      },
    ],
    { runDir, emit: (event) => events.push(event), machines: 2 },
  );
  assert.equal(result.ok, false);
  assert.deepEqual(
    result.cases.map((item) => [item.module, item.name, item.status]),
    [
      ["tests/boot.ts", "boots to a shell", "passed"],
      ["tests/boot.ts", "runs a command", "passed"],
      ["tests/boot.ts", "keeps state between tests of a module", "passed"],
      ["tests/failing.ts", "passes first", "passed"],
      ["tests/failing.ts", "fails second", "failed"],
      ["tests/failing.ts", "is skipped after a failure", "skipped"],
      ["tests/broken.ts", "(loading tests/broken.ts)", "failed"],
    ],
  );
  const failed = result.cases[4];
  assert.equal(failed?.type, "ERR_CHECK_COMMAND_FAILED");
  assert.match(failed?.message ?? "", /exit status 4.*about to fail/s);
  // The line of the test that made the call that failed.
  assert.match(failed?.message ?? "", /\n {2}at tests\/failing\.ts:8:5$/);
  assert.match(result.cases[6]?.message ?? "", /has no default export of test cases/);

  const testEvents = events.filter((event) => event.type.startsWith("test:"));
  const ofModule = (module: string) =>
    testEvents.flatMap((event) => ("module" in event && event.module === module ? [event.type] : []));
  assert.deepEqual(ofModule("tests/boot.ts").slice(0, 2), ["test:start", "test:done"]);
  // Two machines at once: the second module starts before the first one's first test is done.
  assert.deepEqual(
    testEvents.slice(0, 2).map((event) => ("module" in event ? [event.type, event.module] : [])),
    [
      ["test:start", "tests/boot.ts"],
      ["test:start", "tests/failing.ts"],
    ],
  );
  const summary = testEvents.at(-1);
  assert.ok(summary?.type === "test:summary");
  assert.deepEqual([summary.passed, summary.failed, summary.skipped, summary.ok], [4, 2, 1, false]);
  assert.ok(events.some((event) => event.type === "test:skipped" && /fails second/.test(event.reason)));
  assert.ok(events.some((event) => event.type === "vm:accel" && event.machine === "initramfs-boot"));

  const junit = await readFile(result.junit, "utf8");
  assert.match(junit, /<testsuites name="rootstock" tests="7" failures="2" skipped="1"/);
  assert.match(
    junit,
    /<testcase classname="initramfs.failing" name="fails second" time="[\d.]+">\n\s+<failure message="[^"]*exit status 4[^"]*" type="ERR_CHECK_COMMAND_FAILED">/,
  );
  const saved = JSON.parse(await readFile(join(runDir, "results.json"), "utf8")) as unknown[];
  assert.equal(saved.length, 7);
  for (const module of ["boot", "failing"]) {
    const log = await readFile(join(runDir, "initramfs", module, "console.log"), "utf8");
    assert.match(log, /guest: init done/, `${module} has its own console log`);
  }
  await assert.rejects(
    access(join(runDir, "initramfs", "broken", "console.log")),
    "a module that cannot load boots nothing",
  );
});

test("a test that fails before its machine starts names no console log, which was never written", async () => {
  const runDir = join(work, "run-early");
  const result = await runTests(
    [
      {
        image: "initramfs",
        machine: { kernel: guest.kernel, initrd: guest.initrd.path, cmdline: CMDLINE, accel: "tcg" },
        modules: modules("early.ts"),
      },
    ],
    { runDir },
  );
  assert.deepEqual(
    result.cases.map((item) => [item.name, item.status, item.consoleLog]),
    [["fails before booting", "failed", undefined]],
  );
  assert.doesNotMatch(await readFile(join(runDir, "junit.xml"), "utf8"), /console log/);
});

test("a test that never settles does not keep an interruption from ending the run", async () => {
  const controller = new AbortController();
  const events: RootstockEvent[] = [];
  const result = await runTests(
    [
      {
        image: "initramfs",
        machine: { kernel: guest.kernel, initrd: guest.initrd.path, cmdline: CMDLINE, accel: "tcg" },
        modules: modules("hangs.ts"),
      },
    ],
    {
      runDir: join(work, "run-hangs"),
      signal: controller.signal,
      emit: (event) => {
        events.push(event);
        if (event.type === "test:start" && event.test === "never settles")
          controller.abort(new Error("stop"));
      },
    },
  );
  assert.equal(result.ok, false);
  const summary = events.find((event) => event.type === "test:summary");
  assert.equal(summary?.type === "test:summary" && summary.interrupted, true);
  assert.deepEqual(
    result.cases.map((item) => [item.name, item.status]),
    [
      ["never settles", "skipped"],
      ["comes after", "skipped"],
    ],
  );
});

test("modules whose names read alike in a folder name get a machine folder each", async () => {
  const [boot] = modules("boot.ts");
  const result = await runTests(
    [
      {
        image: "initramfs",
        machine: { kernel: guest.kernel, initrd: guest.initrd.path, cmdline: CMDLINE, accel: "tcg" },
        modules: [
          { path: boot?.path as string, display: "tests/boot.ts" },
          { path: boot?.path as string, display: "tests/boot.test.ts" },
        ],
      },
    ],
    { runDir: join(work, "run-alike"), machines: 1 },
  );
  assert.equal(result.ok, true);
  const logs = [...new Set(result.cases.map((item) => item.consoleLog))];
  assert.deepEqual(logs, [
    join(work, "run-alike", "initramfs", "boot", "console.log"),
    join(work, "run-alike", "initramfs", "boot-2", "console.log"),
  ]);
  for (const log of logs) assert.match(await readFile(log as string, "utf8"), /guest: init done/);
});

test("a test that never settles fails at the test timeout, naming itself, and the rest of its module is skipped", async () => {
  const result = await runTests(
    [
      {
        image: "initramfs",
        machine: { kernel: guest.kernel, initrd: guest.initrd.path, cmdline: CMDLINE, accel: "tcg" },
        modules: modules("hangs.ts"),
      },
    ],
    { runDir: join(work, "run-test-timeout"), testTimeoutMs: 1500 },
  );
  assert.equal(result.ok, false);
  assert.deepEqual(
    result.cases.map((item) => [item.name, item.status, item.type]),
    [
      ["never settles", "failed", "ERR_CHECK_TEST_TIMEOUT"],
      ["comes after", "skipped", undefined],
    ],
  );
  assert.match(result.cases[0]?.message ?? "", /test "never settles" did not end within 1\.5s/);
});

test("a Machine API timeout names the line of the test that waited", async () => {
  const result = await runTests(
    [
      {
        image: "initramfs",
        machine: { kernel: guest.kernel, initrd: guest.initrd.path, cmdline: CMDLINE, accel: "tcg" },
        modules: modules("times-out.ts"),
      },
    ],
    { runDir: join(work, "run-times-out") },
  );
  const [timedOut] = result.cases;
  assert.equal(timedOut?.type, "ERR_CHECK_TIMEOUT");
  assert.match(
    timedOut?.message ?? "",
    /no console output matched \/never appears\/ within 1\.5s[\s\S]*\n {2}at tests\/times-out\.ts:5:19$/,
  );
});
