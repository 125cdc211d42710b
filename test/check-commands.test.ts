/**
 * `rootstock image`, `rootstock test` and `rootstock boot` on a small plan made here (Debian's kernel,
 * static busybox): the real CLI in a child process, real steps in bwrap, real images, QEMU under TCG.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { access, appendFile, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { testPlan } from "../src/check/test-plan.ts";
import { digestFile } from "../src/digest.ts";
import { ImageStore } from "../src/image/image-store.ts";
import { writeReports } from "../src/report/write-reports.ts";
import { collectGarbage } from "../src/store/collect-garbage.ts";
import { readRunRecord, runsDir } from "../src/store/run-record.ts";
import { liveProcesses } from "../src/vm/process-reaper.ts";
import { writeBootablePlan } from "./fixtures/bootable-plan.ts";
import { consoleSession, endSessions } from "./helpers/console-session.ts";
import { processesMentioning, type Workbench, workbench } from "./helpers/fixture-plan.ts";
import { finished, rootstock, startRootstock, untilOutput } from "./helpers/rootstock-process.ts";

let bench: Workbench;
let planDir: string;
let storeDir: string;

before(async () => {
  bench = await workbench("rootstock-check-cli-");
  storeDir = bench.storeDir;
  planDir = await writeBootablePlan(join(bench.dir, "plan"), storeDir);
});

after(async () => {
  await endSessions();
  await bench.remove();
});

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/** The run folder a command printed (`report: …/runs/RUN/report.html`). */
function runDirOf(stdout: string): string {
  const match = /report: +(\S+)\/report\.html/.exec(stdout);
  assert.ok(match, `a report line in:\n${stdout}`);
  return match[1] as string;
}

describe("rootstock test", () => {
  test("builds only what the tested images need, boots each, and reports pass and fail with times", async () => {
    const result = await rootstock(["--store", storeDir, "test", planDir, "initramfs", "disk"]);
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    const out = result.stdout;
    assert.match(out, /✓ image initramfs\s+\S+\s+\d/);
    assert.match(out, /✓ image disk\s+\S+\s+\d/);
    assert.match(out, /machines run under (TCG|KVM): /);
    // The two machines run side by side, so their lines interleave.
    assert.match(out, /^▶ initramfs boot › boots to a shell\n/m);
    assert.match(out, /^✓ initramfs boot › boots to a shell\s+[\d.]+m?s\n/m);
    assert.match(out, /✓ initramfs boot › reads what the steps built\s+[\d.]+m?s\n/);
    assert.match(out, /✓ disk disk › mounts its disk and writes to it\s+[\d.]+m?s\n/);
    assert.match(out, /tests ok: 3 passed in /);
    assert.doesNotMatch(out, /unused/, "a step no image needs is not built");

    const runDir = runDirOf(out);
    const record = await readRunRecord(runDir);
    assert.equal(record?.state, "ok");
    assert.deepEqual(Object.keys(record?.keys ?? {}).sort(), [
      "guest",
      "image:disk",
      "image:initramfs",
      "kernel",
    ]);
    const junit = await readFile(join(runDir, "junit.xml"), "utf8");
    assert.match(junit, /<testsuites name="rootstock" tests="3" failures="0"/);
    assert.match(out, new RegExp(`junit: +\\S*${record?.runId}/junit\\.xml`));
    assert.match(out, /console: +\S+\/initramfs\/boot\/console\.log/);
    assert.ok(await exists(join(runDir, "disk", "disk", "console.log")));
    const report = await readFile(join(runDir, "report.md"), "utf8");
    assert.match(report, /Test boot › boots to a shell on initramfs: passed/);
    // Written from the run's events in memory: the same as from its journal.
    const html = await readFile(join(runDir, "report.html"), "utf8");
    const fromJournal = await writeReports(runDir);
    assert.equal(await readFile(fromJournal.markdown, "utf8"), report);
    assert.equal(await readFile(fromJournal.html, "utf8"), html);
    assert.match(report, /Image disk \(ext4\)/);
    const journal = await readFile(join(runDir, "journal.jsonl"), "utf8");
    assert.match(journal, /"type":"run:context","context":\{"journal":\d+,"command":"test"/);
    assert.doesNotMatch(journal, /"type":"vm:console"/, "console lines live in console.log, not the journal");

    // The guest wrote to its disk through an overlay: the image in the store is as it was built.
    const images = new ImageStore(storeDir);
    const diskKey = record?.keys["image:disk"] as string;
    const manifest = await images.lookup(diskKey);
    assert.ok(manifest);
    assert.equal((await digestFile(join(images.dir(diskKey), manifest.file))).sha256, manifest.sha256);
    if (await exists("/dev/kvm")) {
      assert.ok(await exists(join(storeDir, "cache", "kvm-probe.json")), "the probe's answer is remembered");
    }
  });

  test("a failing test exits non-zero, skips the rest of its module, and names its console log", async () => {
    const result = await rootstock(["--store", storeDir, "test", planDir, "broken"]);
    assert.equal(result.code, 1, `${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /✗ broken failing › fails on purpose\s+[\d.]+m?s\n/);
    assert.match(
      result.stdout,
      /│ broken-failing: command "echo about to fail; false" failed with exit status 1/,
    );
    assert.match(result.stdout, /- broken failing › is skipped after a failure skipped: an earlier test/);
    assert.match(result.stdout, /tests failed: 0 passed, 1 failed, 1 skipped/);
    assert.match(
      result.stderr,
      /error: 1 test failed: broken failing › fails on purpose \[ERR_TEST_FAILED\]/,
    );
    const log = /hint: read the console log: (\S+console\.log)/.exec(result.stderr)?.[1];
    assert.ok(log, result.stderr);
    assert.match(await readFile(log, "utf8"), /guest: init done/);
    const record = await readRunRecord(runDirOf(result.stdout));
    assert.equal(record?.state, "failed");
    assert.deepEqual(record?.cached.sort(), ["guest", "kernel"], "built steps are not built again");
  });

  test("Ctrl-C while a machine boots: rootstock says it was interrupted and leaves no QEMU behind", async () => {
    const child = startRootstock(["--store", storeDir, "test", planDir, "initramfs", "--accel", "tcg"]);
    const ended = finished(child);
    await untilOutput(child, "▶ initramfs boot › boots to a shell");
    child.kill("SIGINT");
    const result = await ended;
    assert.equal(result.code, 130, `exits as interrupted by SIGINT:\n${result.stdout}\n${result.stderr}`);
    assert.match(result.stderr, /error: the tests were interrupted \[ERR_INTERRUPTED\]/);
    assert.deepEqual(processesMentioning(storeDir), [], "no QEMU runs on");
    const runDir = runDirOf(result.stdout);
    const record = await readRunRecord(runDir);
    assert.equal(record?.state, "interrupted");
    // The test the machine was booting for is skipped, not failed, wherever the run is told.
    const junit = await readFile(join(runDir, "junit.xml"), "utf8");
    assert.match(junit, /failures="0"/);
    assert.match(junit, /<skipped message="the run was interrupted"/);
    const markdown = await readFile(join(runDir, "report.md"), "utf8");
    assert.match(markdown, /Result: interrupted/);
    assert.doesNotMatch(markdown, /FAILED|Result: failure/);
  });

  test("a test module that leaves a timer running does not keep rootstock test from ending", async () => {
    const copy = join(bench.dir, "plan-lingering");
    execFileSync("cp", ["-a", planDir, copy]);
    await writeFile(
      join(copy, "tests", "lingers.test.ts"),
      'export default { async "leaves a timer"() { setInterval(() => {}, 1000); } };\n',
    );
    await appendFile(
      join(copy, "plan.toml"),
      '\n[images.lingers]\nkind = "initramfs"\ncontents = ["guest"]\nfiles = "rootfs"\n[images.lingers.boot]\ncmdline = "rdinit=/init"\ntests = ["tests/lingers.test.ts"]\n',
    );
    const child = startRootstock(["--store", storeDir, "test", copy, "lingers"]);
    const stuck = setTimeout(() => child.kill("SIGKILL"), 120_000);
    const result = await finished(child).finally(() => clearTimeout(stuck));
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /1 passed/);
  });

  test("a promise a test forgot to await that rejects fails the test then running, not the whole run", async () => {
    const copy = join(bench.dir, "plan-unawaited");
    execFileSync("cp", ["-a", planDir, copy]);
    await writeFile(
      join(copy, "tests", "unawaited.test.ts"),
      `export default {
  async "forgets an await"(machine) { await machine.succeed("true"); machine.succeed("sleep 1; false"); },
  async "runs while it fails"() { await new Promise((resolve) => setTimeout(resolve, 3000)); },
  async "comes last"(machine) { await machine.succeed("true"); },
};
`,
    );
    await appendFile(
      join(copy, "plan.toml"),
      '\n[images.unawaited]\nkind = "initramfs"\ncontents = ["guest"]\nfiles = "rootfs"\n[images.unawaited.boot]\ncmdline = "rdinit=/init"\ntests = ["tests/unawaited.test.ts"]\n',
    );
    const result = await rootstock(["--store", storeDir, "test", copy, "unawaited"]);
    assert.equal(result.code, 1, `${result.stdout}\n${result.stderr}`);
    assert.doesNotMatch(result.stderr, /^\s+at /m, "no stack trace: the run ends as runs do");
    assert.match(result.stdout, /✓ unawaited unawaited › forgets an await/);
    assert.match(result.stdout, /✗ unawaited unawaited › runs while it fails/);
    assert.match(result.stdout, /"sleep 1; false" failed with exit status 1/);
    // Said as a call no test awaited, not as a failure of the test then running.
    assert.match(
      result.stdout,
      /│ a call a test did not await failed \(in this test or one before it\): unawaited-unawaited: command "sleep 1; false"/,
    );
    const runDir = runDirOf(result.stdout);
    assert.equal((await readRunRecord(runDir))?.state, "failed");
    assert.match(await readFile(join(runDir, "junit.xml"), "utf8"), /tests="3" failures="1" skipped="1"/);
  });

  test("a build that fails before the boot tests still leaves a junit.xml that says so", async () => {
    const copy = join(bench.dir, "plan-failing-build");
    execFileSync("cp", ["-a", planDir, copy]);
    await appendFile(
      join(copy, "plan.toml"),
      '\n[images.needs-unused]\nkind = "initramfs"\ncontents = ["guest", "unused"]\nfiles = "rootfs"\n[images.needs-unused.boot]\ncmdline = "rdinit=/init"\ntests = ["tests/boot.test.ts"]\n',
    );
    const result = await rootstock(["--store", storeDir, "test", copy, "needs-unused"]);
    assert.equal(result.code, 1, `${result.stdout}\n${result.stderr}`);
    const runDir = runDirOf(result.stdout);
    assert.match(result.stdout, /junit: +\S+junit\.xml/);
    const junit = await readFile(join(runDir, "junit.xml"), "utf8");
    assert.match(junit, /tests="1" failures="1"/);
    assert.match(junit, /<failure message="the build failed before the boot tests: 1 step failed: unused"/);
    const markdown = await readFile(join(runDir, "report.md"), "utf8");
    assert.match(markdown, /Integration testing: Not run: the run ended before its boot tests/);

    // An image that cannot be made stops the run with an error; its junit.xml says so too.
    await appendFile(
      join(copy, "plan.toml"),
      '\n[images.tiny]\nkind = "ext4"\ncontents = ["guest"]\nsize = "64K"\n[images.tiny.boot]\ninitrd = "initramfs"\ncmdline = "rdinit=/init"\ntests = ["tests/disk.test.ts"]\n',
    );
    const small = await rootstock(["--store", storeDir, "test", copy, "tiny"]);
    assert.equal(small.code, 1, small.stderr);
    assert.match(small.stderr, /ERR_IMAGE_TOO_SMALL/);
    const newest = (await readdir(runsDir(storeDir))).sort().at(-1) as string;
    const smallJunit = await readFile(join(runsDir(storeDir), newest, "junit.xml"), "utf8");
    assert.match(
      smallJunit,
      /<failure message="before the boot tests: image tiny: 64 KiB is too small[^"]*" type="ERR_IMAGE_TOO_SMALL">/,
    );
    // What the terminal says, hint included; no step logs to point at when no step ran.
    assert.match(smallJunit, /\n {2}hint: raise size/);
    assert.doesNotMatch(smallJunit, /the step logs are in/);
  });

  test("an image without tests, and a plan image that does not exist, are errors with hints", async () => {
    const unknown = await rootstock(["--store", storeDir, "test", planDir, "initramf"]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no image "initramf" \[ERR_IMAGE_UNKNOWN\]/);
    assert.match(unknown.stderr, /hint: .*initramfs/);
  });
});

describe("testPlan, the library call behind rootstock test", () => {
  test("returns the failures with their console logs, and the run's reports", async () => {
    const result = await testPlan(planDir, { storeDir, images: ["broken"], accel: "tcg" });
    assert.equal(result.ok, false);
    assert.deepEqual(
      result.failures.map((failure) => [failure.image, failure.name]),
      [["broken", "fails on purpose"]],
    );
    assert.ok(await exists(result.failures[0]?.consoleLog as string));
    assert.deepEqual(
      result.tests?.cases.map((test) => test.status),
      ["failed", "skipped"],
    );
    assert.deepEqual(
      result.reports?.report.tests.map((test) => [test.ok, test.skipped !== undefined]),
      [
        [false, false],
        [false, true],
      ],
      "the failed test, and the one skipped after it",
    );
    assert.ok(await exists(join(result.runDir, "report.html")));
  });

  test("cancelled while its machine boots: the run ends interrupted and no QEMU is left", async () => {
    const controller = new AbortController();
    const result = await testPlan(planDir, {
      storeDir,
      images: ["initramfs"],
      accel: "tcg",
      signal: controller.signal,
      emit: (event) => {
        if (event.type === "vm:start") controller.abort();
      },
    });
    assert.equal(result.ok, false);
    assert.equal((await readRunRecord(result.runDir))?.state, "interrupted");
    assert.notEqual(result.tests?.cases[0]?.status, "passed");
    assert.deepEqual(liveProcesses(), [], "QEMU was stopped");
  });
});

describe("rootstock image", () => {
  test("makes the named images (or all), printing each one's kind, size and path; a second time from the store", async () => {
    const first = await rootstock(["--store", storeDir, "image", planDir]);
    assert.equal(first.code, 0, first.stderr);
    const lines = first.stdout.split("\n").filter((line) => line.includes(join(storeDir, "images")));
    assert.deepEqual(
      lines.map((line) => line.split(/\s+/)[0]),
      ["initramfs", "disk", "broken"],
    );
    for (const line of lines) {
      const path = line.split(/\s+/).at(-1) as string;
      assert.ok(await exists(path), path);
    }
    assert.match(lines[1] as string, /^disk\s+ext4\s+\d+ MiB\s+\//);
    const again = await rootstock(["--store", storeDir, "image", planDir, "disk"]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /· image disk\s+cached {2}ext4/);
    assert.match(again.stdout, /^disk\s+ext4/m);
    // The report's command makes the same images again: the image named is in it.
    const newest = (await readdir(runsDir(storeDir))).sort().at(-1) as string;
    const report = await readFile(join(runsDir(storeDir), newest, "report.md"), "utf8");
    assert.ok(report.includes(`rootstock image ${planDir} disk\n`), report);
  });
});

describe("rootstock gc", () => {
  test("keeps the images recent runs used and removes the others", async () => {
    const runs = (await readdir(runsDir(storeDir))).sort();
    const last = await readRunRecord(join(runsDir(storeDir), runs.at(-1) as string));
    const lastImages = Object.entries(last?.keys ?? {})
      .filter(([name]) => name.startsWith("image:"))
      .map(([, key]) => key);
    assert.ok(lastImages.length > 0);
    const images = new ImageStore(storeDir);
    const before = await images.keys();
    const dry = await collectGarbage(storeDir, { keepRuns: 1, keepDays: 0, dryRun: true });
    const doomed = dry.removed.filter((removal) => removal.what === "image").map((removal) => removal.name);
    assert.deepEqual(doomed.sort(), before.filter((key) => !lastImages.includes(key)).sort());
    assert.ok(doomed.length > 0, "older runs' images would go");
    await collectGarbage(storeDir, { keepRuns: 1, keepDays: 0 });
    assert.deepEqual((await images.keys()).sort(), [...new Set(lastImages)].sort());
    assert.deepEqual(await readdir(images.tmpDir).catch(() => []), []);
  });
});

describe("rootstock boot", () => {
  test("--persist keeps the guest's writes in a copy outside the store; Ctrl-] leaves and stops QEMU", async () => {
    const diskDir = join(bench.dir, "disks");
    const first = consoleSession([
      "--store",
      storeDir,
      "boot",
      planDir,
      "disk",
      "--persist",
      "--disk-dir",
      diskDir,
    ]);
    await first.waitFor(/\/ # /);
    first.type("mount /dev/vda /mnt && echo kept-$((40 + 2)) > /mnt/kept && umount /mnt && echo done\n");
    await first.waitFor(/^done\r?$/m);
    first.type("\x1d");
    const ended = await first.ended;
    assert.equal(ended.code, 0, ended.stderr);
    assert.match(ended.stderr, /Leave with Ctrl-\]/);
    assert.match(ended.stderr, /disk disk writes through to \S+disk\.ext4 \(copied from the image now\)/);
    assert.match(ended.stderr, /left the console; the machine was stopped/);
    const copy = join(diskDir, "bootable", "disk.ext4");
    const read = (image: string) =>
      execFileSync("debugfs", ["-R", "cat /kept", image], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      });
    assert.equal(read(copy), "kept-42\n");

    // The image in the store never saw the write.
    const images = new ImageStore(storeDir);
    let disks = 0;
    for (const candidate of await images.keys()) {
      const manifest = await images.lookup(candidate);
      if (manifest?.kind !== "ext4") continue;
      disks++;
      assert.equal(read(join(images.dir(candidate), manifest.file)), "");
    }
    assert.equal(disks, 1);

    // The next boot finds the copy; the guest powers off and rootstock says so.
    const second = consoleSession([
      "--store",
      storeDir,
      "boot",
      planDir,
      "disk",
      "--persist",
      "--disk-dir",
      diskDir,
    ]);
    await second.waitFor(/\/ # /);
    second.type("mount /dev/vda /mnt && cat /mnt/kept && umount /mnt\n");
    await second.waitFor(/^kept-42\r?$/m);
    second.type("poweroff -f\n");
    const done = await second.ended;
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stderr, /\(kept from an earlier boot\)/);
    assert.match(done.stderr, /the machine stopped/);
  });

  test("a boot whose kernel panicked is recorded as failed and exits 1, saying so", async () => {
    const copy = join(bench.dir, "plan-panics");
    execFileSync("cp", ["-a", planDir, copy]);
    await writeFile(join(copy, "rootfs", "fails"), "#!/bin/sh\necho giving up\nexit 1\n", { mode: 0o755 });
    await appendFile(
      join(copy, "plan.toml"),
      '\n[images.panics]\nkind = "initramfs"\ncontents = ["guest"]\nfiles = "rootfs"\n[images.panics.boot]\ncmdline = "rdinit=/fails"\n',
    );
    const session = consoleSession(["--store", storeDir, "boot", copy, "panics"]);
    await session.waitFor(/Kernel panic - not syncing/);
    session.type("\x1d");
    const ended = await session.ended;
    assert.equal(ended.code, 1, ended.stderr);
    assert.match(
      ended.stderr,
      /the kernel panicked: .*Kernel panic - not syncing: Attempted to kill init.* \[ERR_BOOT_PANIC\]/,
    );
    const newest = (await readdir(runsDir(storeDir))).sort().at(-1) as string;
    assert.equal((await readRunRecord(join(runsDir(storeDir), newest)))?.state, "failed");
  });

  test("--disk-dir without --persist is refused, not silently unused", async () => {
    const count = async () => (await readdir(runsDir(storeDir)).catch(() => [])).length;
    const runs = await count();
    const result = await rootstock(["--store", storeDir, "boot", planDir, "disk", "--disk-dir", bench.dir]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stderr,
      /--disk-dir is used only with --persist \[ERR_CLI_DISK_DIR_WITHOUT_PERSIST\]/,
    );
    assert.equal(await count(), runs, "refused before a run began");
  });

  test("SIGTERM at the console ends the boot as interrupted (exit 143), and the run is recorded so", async () => {
    const session = consoleSession(["--store", storeDir, "boot", planDir, "initramfs"]);
    await session.waitFor(/\/ # /);
    session.child.kill("SIGTERM");
    const ended = await session.ended;
    assert.equal(ended.code, 143, ended.stderr);
    assert.match(ended.stderr, /rootstock: interrupted; the machine was stopped/);
    assert.match(ended.stderr, /the boot was interrupted \[ERR_INTERRUPTED\]/);
    const newest = (await readdir(runsDir(storeDir))).sort().at(-1) as string;
    assert.equal((await readRunRecord(join(runsDir(storeDir), newest)))?.state, "interrupted");
  });
});
