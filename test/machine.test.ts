/**
 * The Machine API against real guests in QEMU (TCG): Debian's kernel, an initramfs of static busybox
 * made by rootstock's image builder, ext4 and squashfs disks.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Machine, type MachineOptions } from "../src/check/machine.ts";
import { digestFile } from "../src/digest.ts";
import { RootstockError } from "../src/errors.ts";
import { type BuiltImage, buildImage } from "../src/image/build-image.ts";
import { CMDLINE, type TestGuest, testGuest } from "./fixtures/guest.ts";

let work: string;
let guest: TestGuest;
let machines = 0;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "rootstock-machine-test-"));
  guest = await testGuest({ storeDir: work });
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

function machine(options: Partial<MachineOptions> = {}): Machine {
  machines += 1;
  return new Machine({
    name: `test${machines}`,
    kernel: guest.kernel,
    initrd: guest.initrd.path,
    cmdline: CMDLINE,
    runDir: join(work, `machine${machines}`),
    accel: "tcg",
    ...options,
  });
}

function isCode(code: string) {
  return (error: unknown) => {
    assert.ok(error instanceof RootstockError, `expected a RootstockError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return true;
  };
}

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test("boots to a shell and runs commands: status, output of any kind, long output, retries, timeouts, crash", async () => {
  await using m = machine({ accel: "auto" });
  assert.match(await m.waitForConsole(/guest: init done/), /guest: init done/);
  assert.ok(m.accel?.reason, "the accelerator choice says why");

  const release = execFileSync("basename", [guest.kernel])
    .toString()
    .trim()
    .replace(/^vmlinuz-/, "");
  assert.equal(await m.succeed("uname -r"), `${release}\n`);
  assert.equal((await m.execute("echo out; echo err >&2; exit 3")).status, 3);
  assert.equal((await m.execute("echo out; echo err >&2; exit 3")).output, "out\nerr\n");
  await assert.rejects(m.succeed("printf 'what went wrong'; false"), (error: unknown) => {
    isCode("ERR_CHECK_COMMAND_FAILED")(error);
    assert.match((error as Error).message, /exit status 1.*\n\s+what went wrong/s);
    return true;
  });
  assert.equal(await m.fail("echo no; exit 2"), "no\n");
  await assert.rejects(m.fail("true"), isCode("ERR_CHECK_COMMAND_SUCCEEDED"));

  // Special characters both ways: the here-document is quoted, so the guest's cat returns the text as sent.
  const text = `quotes ' " \` $HOME $(echo no) \\ back\\slash é ✓ 日本\ttab\r`;
  assert.equal(await m.succeed(`cat <<'END'\n${text}\nEND`), `${text}\n`);
  const binary = await m.execute("printf '\\000\\001\\377\\r\\n\\033[0m'");
  assert.deepEqual([...binary.bytes], [0, 1, 255, 13, 10, 27, 91, 48, 109]);

  // Long output, text and binary, comes back whole.
  const numbers = await m.succeed("seq 1 30000");
  assert.equal(numbers, `${Array.from({ length: 30000 }, (_, index) => index + 1).join("\n")}\n`);
  const guestSum = (await m.succeed("head -c 150000 /dev/urandom > /tmp/big && md5sum /tmp/big")).split(
    " ",
  )[0];
  const big = await m.execute("cat /tmp/big");
  assert.equal(big.bytes.length, 150000);
  assert.equal(createHash("md5").update(big.bytes).digest("hex"), guestSum);

  // A console line that arrives in two parts is returned whole, and a line is matched once; a prompt
  // (no newline) is matched once the console is quiet.
  // Each writer starts after the command that starts it has replied: the reply shares the console.
  await m.succeed("(sleep 1; printf 'half-'; sleep 1; echo 'whole') >/dev/console 2>&1 &");
  assert.match(await m.waitForConsole(/half-\S+/, { timeout: 30_000 }), /half-whole$/);
  await assert.rejects(m.waitForConsole(/half-/, { timeout: 1500 }), isCode("ERR_CHECK_TIMEOUT"));
  await m.succeed("(sleep 1; printf 'fake-prompt> '; sleep 3; echo; echo prompt-done) >/dev/console 2>&1 &");
  assert.match(await m.waitForConsole(/fake-prompt> $/, { timeout: 30_000 }), /fake-prompt> $/);
  await assert.rejects(m.waitForConsole(/fake-prompt/, { timeout: 1500 }), isCode("ERR_CHECK_TIMEOUT"));
  // Its writer done before the next command, whose reply shares the console.
  await m.waitForConsole(/^prompt-done$/, { timeout: 30_000 });

  await m.succeed("(sleep 1; touch /tmp/flag) >/dev/null 2>&1 &");
  await m.waitUntilSucceeds("test -e /tmp/flag", { timeout: 30_000 });
  assert.equal(await m.waitUntilFails("test -e /tmp/flag && rm /tmp/flag", { timeout: 30_000 }), "");

  // A timeout that is no positive number of milliseconds is refused, and leaves the shell free.
  for (const timeout of [0, -5, Number.NaN])
    await assert.rejects(m.succeed("true", { timeout }), isCode("ERR_CHECK_BAD_TIMEOUT"));
  assert.equal(await m.succeed("echo free"), "free\n");
  // A command that outlives its timeout leaves the shell busy until the machine is reset: waitForShell
  // and shutdown say so at once.
  await assert.rejects(m.execute("sleep 1000", { timeout: 1000 }), isCode("ERR_CHECK_TIMEOUT"));
  await assert.rejects(m.succeed("true"), isCode("ERR_CHECK_SHELL_BUSY"));
  await assert.rejects(m.waitForShell({ timeout: 3000 }), isCode("ERR_CHECK_SHELL_BUSY"));
  await assert.rejects(m.shutdown({ timeout: 3000 }), isCode("ERR_CHECK_SHELL_BUSY"));
  // reboot() recovers it too: on a busy shell it resets the machine as crash() does.
  await m.reboot({ timeout: 60_000 });
  assert.equal(await m.succeed("echo back; test -e /tmp/big || echo fresh"), "back\nfresh\n");
  // Text written to the console during a command may garble its reply; the shell is free after it.
  await m.execute("echo hello > /dev/console; echo done").catch(isCode("ERR_CHECK_GARBLED_REPLY"));
  assert.equal(await m.succeed("echo next"), "next\n");
  await m.crash();
  assert.match(await m.waitForConsole(/guest: init done/), /init done/, "the second boot's line is new");
  assert.equal(m.consoleLog().match(/guest: init done/g)?.length, 2);

  const pid = m.vm?.pid;
  await m.shutdown();
  assert.equal(m.running, false);
  assert.equal(alive(pid), false);
});

test("a file written to an ext4 disk survives a reboot; the image stays pristine; squashfs mounts", async () => {
  const layer = join(work, "data");
  await mkdir(layer);
  await writeFile(join(layer, "hello.txt"), "hello\n");
  const ext4 = await buildImage(
    { name: "data", kind: "ext4", compression: "none", layers: [{ dir: layer }] },
    { storeDir: work },
  );
  const squash = await buildImage(
    { name: "ro", kind: "squashfs", compression: "xz", layers: [{ dir: layer }] },
    { storeDir: work },
  );
  await using m = machine({ disks: [{ path: ext4.path }, { path: squash.path, readOnly: true }] });
  assert.equal(await m.succeed("mount -t ext4 /dev/vda /mnt && cat /mnt/hello.txt"), "hello\n");
  await m.succeed("echo kept > /mnt/written");
  assert.equal(
    await m.succeed("mkdir -p /media && mount -t squashfs /dev/vdb /media && cat /media/hello.txt"),
    "hello\n",
  );
  await m.fail("touch /media/new");
  await m.reboot();
  assert.equal(await m.succeed("mount -t ext4 /dev/vda /mnt && cat /mnt/written"), "kept\n");
  await m.shutdown();
  assert.equal((await digestFile(ext4.path)).sha256, ext4.sha256, "writes went to the overlay");
  assert.equal(m.consoleLog().match(/guest: init done/g)?.length, 2);
  // Started again after a shutdown, as a test module's machine is: the same disks, and its console log
  // keeps the earlier boots.
  assert.equal(await m.succeed("mount -t ext4 /dev/vda /mnt && cat /mnt/written"), "kept\n");
  await m.shutdown();
  assert.equal((await readFile(m.vm?.consoleLog as string, "utf8")).match(/guest: init done/g)?.length, 3);
  assert.equal(m.consoleLog().match(/guest: init done/g)?.length, 3, "consoleLog() keeps every boot too");
});

test("persist writes through to the disk image itself", async () => {
  const layer = join(work, "persist-layer");
  await mkdir(layer);
  await writeFile(join(layer, "hello.txt"), "hello\n");
  const built: BuiltImage = await buildImage(
    { name: "disk", kind: "ext4", compression: "none", layers: [{ dir: layer }] },
    { storeDir: work },
  );
  const disk = join(work, "persistent.ext4");
  await copyFile(built.path, disk);
  await using m = machine({ disks: [{ path: disk, persist: true }] });
  await m.succeed("mount /dev/vda /mnt && echo persisted > /mnt/written && umount /mnt");
  await m.shutdown();
  const read = execFileSync("debugfs", ["-R", "cat /written", disk], { stdio: ["ignore", "pipe", "ignore"] });
  assert.equal(read.toString(), "persisted\n");
});

test("a kernel panic (an init that exits) fails at once, with the lines before it", async () => {
  const panicking = await testGuest({ storeDir: work, init: '#!/bin/sh\necho "init: giving up"\nexit 1\n' });
  // The boot timeout is far longer than this test's own: only the panic can end the wait in time.
  await using m = machine({ initrd: panicking.initrd.path, bootTimeoutMs: 600_000 });
  await assert.rejects(m.waitForShell(), (error: unknown) => {
    isCode("ERR_CHECK_KERNEL_PANIC")(error);
    const message = (error as Error).message;
    assert.match(message, /Kernel panic - not syncing: Attempted to kill init/);
    assert.match(message, /init: giving up/);
    return true;
  });
  await assert.rejects(m.succeed("true"), isCode("ERR_CHECK_KERNEL_PANIC"), "the machine stays failed");
  await m.stop();
  assert.equal(m.running, false);
});

test("a fatal pattern the plan declares fails at once", async () => {
  await using m = machine({ fatal: ["guest: init (done)"], bootTimeoutMs: 600_000 });
  await assert.rejects(m.succeed("true"), (error: unknown) => {
    isCode("ERR_CHECK_FATAL_OUTPUT")(error);
    assert.match((error as Error).message, /fatal pattern \/guest: init \(done\)\/: guest: init done/);
    return true;
  });
});

test("QEMU is found where doctor finds it (the usual folders too), whatever PATH rootstock was given", async () => {
  const given = process.env.PATH;
  process.env.PATH = "/nonexistent";
  try {
    await using m = machine();
    assert.equal(await m.succeed("echo found"), "found\n");
  } finally {
    process.env.PATH = given;
  }
});

test("a boot whose console stays silent says what that most often means, not 'the lines above'", async () => {
  // No console on ttyS0: the kernel and the guest say nothing there.
  await using m = machine({ cmdline: "console=tty0 quiet", bootTimeoutMs: 2000 });
  await assert.rejects(m.succeed("true"), (error: unknown) => {
    isCode("ERR_CHECK_TIMEOUT")(error);
    assert.match((error as Error).message, /\(the console printed nothing\)/);
    assert.match(
      (error as RootstockError).hint ?? "",
      /may not write to ttyS0 \(console=ttyS0 on its command line\)/,
    );
    assert.doesNotMatch((error as RootstockError).hint ?? "", /lines above/);
    return true;
  });
});

test("a boot that stalls fails at its timeout with the last 30 console lines", async () => {
  const lines = Array.from({ length: 40 }, (_, index) => `echo "stall ${index + 1}"`).join("\n");
  const stalling = await testGuest({ storeDir: work, init: `#!/bin/sh\n${lines}\nexec sleep 100000\n` });
  await using m = machine({ initrd: stalling.initrd.path, bootTimeoutMs: 2000 });
  // Once the guest has stalled, however slowly this host got it there, no prompt comes within 2 s.
  await m.waitForConsole(/stall 40/, { timeout: 60_000 });
  await assert.rejects(m.succeed("true"), (error: unknown) => {
    isCode("ERR_CHECK_TIMEOUT")(error);
    const message = (error as Error).message;
    assert.match(message, /no shell prompt matching .* came within 2s/);
    assert.match(message, /last 30 console lines:/);
    assert.match(message, /\n {2}stall 40/);
    assert.doesNotMatch(message, /stall 5\b/);
    return true;
  });
  await m.stop();
  assert.equal(m.running, false);
});

test("a $TMPDIR too deep for a socket's path does not keep a machine from starting, nor keeps its folder", async () => {
  const deep = join(work, "t".repeat(60), "m".repeat(60));
  await mkdir(deep, { recursive: true });
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = deep;
  try {
    await using m = machine();
    assert.equal(await m.succeed("echo ok"), "ok\n");
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  }
  assert.deepEqual(await readdir(deep), []);
});

test("a command that reboots the guest fails at once as a reset, and the next call finds the new shell", async () => {
  await using m = machine();
  await m.waitForShell();
  const started = Date.now();
  await assert.rejects(m.execute("reboot -f", { timeout: 120_000 }), (error: unknown) => {
    isCode("ERR_CHECK_MACHINE_RESET")(error);
    assert.match((error as Error).message, /the machine reset while the command "reboot -f" ran/);
    return true;
  });
  assert.ok(Date.now() - started < 60_000, "it did not wait for the command's timeout");
  assert.equal(await m.succeed("echo again"), "again\n");
});

test("a timeout longer than a timer can wait is refused, not a timer that fires at once", async () => {
  const m = machine();
  await assert.rejects(m.execute("true", { timeout: 3_000_000_000 }), (error: unknown) => {
    isCode("ERR_CHECK_BAD_TIMEOUT")(error);
    assert.match((error as Error).message, /at most 2147483647 \(24\.8 days\), not 3000000000/);
    return true;
  });
  await m.stop();
});
