import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, test } from "node:test";
import { at, capture } from "../../test/helpers/captured-output.ts";
import type { TimedEvent } from "../events.ts";
import { createCheckReporter } from "./check-reporter.ts";

// A failure names its console log only when there is one: the machine may never have started.
const CONSOLE_LOG = join(mkdtempSync(join(tmpdir(), "rootstock-check-reporter-")), "console.log");
writeFileSync(CONSOLE_LOG, "booting\n");
after(() => rmSync(dirname(CONSOLE_LOG), { recursive: true, force: true }));

const KEY = "k".repeat(64);
const base = { image: "rootfs", module: "tests/boot.test.ts" };

const events: TimedEvent[] = [
  at(0, { type: "image:cached", image: "initramfs", key: KEY, kind: "initramfs", path: "/i", bytes: 2048 }),
  at(1, { type: "image:start", image: "rootfs", key: KEY, kind: "ext4" }),
  at(900, { type: "image:done", image: "rootfs", key: KEY, path: "/r", bytes: 64 << 20, ms: 899 }),
  at(901, { type: "vm:accel", machine: "rootfs-boot", accel: "tcg", reason: "no KVM" }),
  at(902, { type: "vm:accel", machine: "rootfs-other", accel: "tcg", reason: "no KVM" }),
  at(903, { type: "test:start", ...base, test: "boots" }),
  at(2100, { type: "test:done", ...base, test: "boots", ok: true, ms: 1197, consoleLog: "/run/c.log" }),
  at(2101, { type: "test:start", ...base, test: "compiles" }),
  at(3000, {
    type: "test:done",
    ...base,
    test: "compiles",
    ok: false,
    ms: 899,
    error: 'rootfs-boot: command "tcc" failed with exit status 127\nhint: …',
    consoleLog: CONSOLE_LOG,
  }),
  at(3001, { type: "test:skipped", ...base, test: "reboots", reason: "an earlier test failed" }),
  at(3002, {
    type: "test:summary",
    ok: false,
    passed: 1,
    failed: 1,
    skipped: 1,
    ms: 3000,
    runDir: "/run",
    junit: "/run/junit.xml",
  }),
];

test("plain lines: images cached or made, the accelerator once, each test with its time, failures with their console log", () => {
  const { context, text } = capture();
  const reporter = createCheckReporter(context, { live: false });
  for (const event of events) reporter.listener(event);
  reporter.stop();
  const lines = text().split("\n");
  assert.match(text(), /· image initramfs\s+cached {2}initramfs, 2\.0 KiB/);
  assert.match(text(), /▶ image rootfs \(ext4\)\n✓ image rootfs\s+899ms {2}64 MiB/);
  assert.equal(lines.filter((line) => line.includes("machines run under TCG: no KVM")).length, 1);
  assert.match(text(), /▶ rootfs boot › boots\n✓ rootfs boot › boots\s+1\.2s/);
  assert.match(text(), /✗ rootfs boot › compiles\s+899ms\n {4}│ rootfs-boot: command "tcc" failed/);
  assert.ok(text().includes(`    console: ${CONSOLE_LOG}\n`), text());
  assert.match(text(), /- rootfs boot › reboots skipped: an earlier test failed/);
  assert.match(text(), /tests failed: 1 passed, 1 failed, 1 skipped in 3\.0s\n$/);
  assert.ok(!text().includes("\x1b"), "no escape sequences when not live");
});

test("live: the running test is a status line redrawn in place, and results are lines", () => {
  const { context, text } = capture();
  const reporter = createCheckReporter(context, { live: true });
  for (const event of events.slice(5, 7)) reporter.listener(event);
  reporter.stop();
  assert.ok(text().includes("\r\x1b[K▶ rootfs boot › boots"), "the status line is drawn in place");
  assert.doesNotMatch(text(), /^▶ rootfs boot › boots\n/m, "no start line of its own");
  assert.match(text(), /✓ rootfs boot › boots\s+1\.2s\n/);
});

test("live: machines side by side share the status line, and each leaves it when done", () => {
  const { context, text } = capture();
  const reporter = createCheckReporter(context, { live: true });
  const other = { image: "initramfs", module: "tests/system.test.ts" };
  reporter.listener(at(0, { type: "test:start", ...base, test: "boots" }));
  reporter.listener(at(1, { type: "test:start", ...other, test: "compiles" }));
  reporter.listener(at(900, { type: "test:done", ...base, test: "boots", ok: true, ms: 900 }));
  const afterFirst = text().slice(text().lastIndexOf("✓"));
  reporter.stop();
  assert.match(text(), /▶ rootfs boot › boots \S+ {2}▶ initramfs system › compiles/);
  assert.match(afterFirst, /▶ initramfs system › compiles/);
  assert.doesNotMatch(afterFirst, /▶ rootfs boot › boots/);
});

test("a test's name cannot drive the terminal", () => {
  const { context, text } = capture();
  const reporter = createCheckReporter(context, { live: false });
  reporter.listener(at(0, { type: "test:start", ...base, test: "evil \u001b[2J name" }));
  reporter.listener(at(1, { type: "test:done", ...base, test: "evil \u001b[2J name", ok: true, ms: 5 }));
  reporter.stop();
  assert.ok(!text().includes("\u001b"), JSON.stringify(text()));
  assert.match(text(), /evil {2}name/);
});

test("a long failure keeps its first line and its end (the console's last lines and the hint)", () => {
  const { context, text } = capture();
  const reporter = createCheckReporter(context, { live: false });
  const console = Array.from({ length: 50 }, (_, index) => `kernel line ${index + 1}`);
  const error = [
    "rootfs-boot: no shell prompt came within 8s; last 50 console lines:",
    ...console,
    "hint: the console lines above show how far it got",
  ].join("\n");
  reporter.listener(at(0, { type: "test:done", ...base, test: "boots", ok: false, ms: 8000, error }));
  const out = text();
  assert.match(out, /│ rootfs-boot: no shell prompt came within 8s/);
  assert.match(out, /│ … 12 lines left out/);
  assert.match(out, /│ kernel line 50\n.*│ hint: the console lines above show how far it got/s);
  assert.doesNotMatch(out, /kernel line 12\n/);
});

test("a command's output cut by the machine (its last 20 lines) is shown whole, with its own count", () => {
  const { context, text } = capture();
  const reporter = createCheckReporter(context, { live: false });
  const output = Array.from({ length: 20 }, (_, index) => `  ${index + 81}`);
  const error = [
    'm: command "seq 1 100; exit 1" failed with exit status 1; its output:',
    "… 80 lines left out",
    ...output,
    "  at tests/seq.test.ts:3:5",
  ].join("\n");
  reporter.listener(at(0, { type: "test:done", ...base, test: "seq", ok: false, ms: 10, error }));
  const out = text();
  assert.match(out, /│ … 80 lines left out\n.*│ {3}81\n/s);
  assert.equal(out.match(/lines left out/g)?.length, 1);
});
