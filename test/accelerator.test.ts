/**
 * The KVM probe: with fake accelerators (a QEMU that never answers, one that fails, one that works)
 * and the real one on this host. Whatever the answer, no probe process is left behind.
 */
import assert from "node:assert/strict";
import { chmod, link, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { RootstockError } from "../src/errors.ts";
import { chooseAccelerator, probeKvm } from "../src/vm/accelerator.ts";
import { rememberedProbe } from "../src/vm/probe-memory.ts";
import { liveProcesses } from "../src/vm/process-reaper.ts";
import { debianKernel } from "./fixtures/debian-kernel.ts";

let work: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "rootstock-accel-test-"));
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A stand-in for qemu-system-x86_64 that records each start and then runs `body`. */
async function fakeQemu(
  name: string,
  body: string,
): Promise<{ path: string; starts: () => Promise<string[]> }> {
  const path = join(work, name);
  const log = join(work, `${name}.starts`);
  await writeFile(path, `#!/bin/sh\necho $$ >> '${log}'\n${body}\n`);
  await chmod(path, 0o755);
  return {
    path,
    starts: async () => (await readFile(log, "utf8").catch(() => "")).split("\n").filter(Boolean),
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits (up to 10 s) for processes the probe killed to be gone. */
async function gone(pids: number[]): Promise<boolean> {
  for (let tries = 0; tries < 200; tries++) {
    if (pids.every((pid) => !alive(pid)) && liveProcesses().length === 0) return true;
    await sleep(50);
  }
  return false;
}

test("a KVM that never answers falls back to TCG at the timeout, and the probe is killed", async () => {
  const hanging = await fakeQemu("hanging", "exec sleep 600");
  const choice = await probeKvm({
    kernel: "/boot/none",
    qemu: hanging.path,
    device: "/dev/null",
    timeoutMs: 500,
  });
  assert.equal(choice.accel, "tcg");
  assert.match(choice.reason, /made no progress within 0\.5s \(no output\)/);
  const pids = (await hanging.starts()).map(Number);
  assert.equal(pids.length, 1);
  assert.ok(await gone(pids), "the hanging probe was killed");
});

test("a KVM that fails says why; one that boots the kernel to its panic is chosen", async () => {
  const failing = await fakeQemu(
    "failing",
    'echo "qemu-system-x86_64: failed to initialize kvm: Permission denied" >&2\nexit 1',
  );
  const failed = await probeKvm({ kernel: "/boot/none", qemu: failing.path, device: "/dev/null" });
  assert.deepEqual(
    [failed.accel, failed.reason],
    ["tcg", "QEMU with KVM failed: qemu-system-x86_64: failed to initialize kvm: Permission denied"],
  );

  const working = await fakeQemu(
    "working",
    'echo "Linux version 6.1"\necho "Kernel panic - not syncing: VFS: Unable to mount root fs"\nexec sleep 600',
  );
  const chosen = await probeKvm({ kernel: "/boot/none", qemu: working.path, device: "/dev/null" });
  assert.equal(chosen.accel, "kvm");
  assert.match(chosen.reason, /KVM booted the kernel to its first panic in \d+ms/);
  assert.ok(await gone((await working.starts()).map(Number)), "the probe is ended once it has answered");
});

test("no device means TCG without starting anything", async () => {
  const never = await fakeQemu("never", "exit 0");
  const choice = await probeKvm({ kernel: "/boot/none", qemu: never.path, device: join(work, "no-kvm") });
  assert.equal(choice.accel, "tcg");
  assert.match(choice.reason, /does not exist/);
  assert.deepEqual(await never.starts(), []);
});

test("auto probes once per process; kvm insists; tcg never probes", async () => {
  const hanging = await fakeQemu("hanging-once", "exec sleep 600");
  const options = { kernel: "/boot/none", qemu: hanging.path, device: "/dev/null", timeoutMs: 300 };
  const first = await chooseAccelerator("auto", options);
  const second = await chooseAccelerator("auto", options);
  assert.equal(first.accel, "tcg");
  assert.deepEqual(second, first);
  assert.equal((await hanging.starts()).length, 1);
  await assert.rejects(chooseAccelerator("kvm", options), (error: unknown) => {
    assert.ok(error instanceof RootstockError);
    assert.equal(error.code, "ERR_VM_KVM_UNAVAILABLE");
    assert.match(error.message, /KVM was asked for, but a kernel under KVM made no progress/);
    return true;
  });
  assert.deepEqual(await chooseAccelerator("tcg", options), { accel: "tcg", reason: "TCG was asked for" });
  assert.ok(await gone((await hanging.starts()).map(Number)));
});

test("the real probe on this host gives an answer with a reason and leaves nothing running", async () => {
  const kernel = await debianKernel();
  const choice = await probeKvm({ kernel: kernel.vmlinuz });
  assert.ok(choice.accel === "kvm" || choice.accel === "tcg");
  assert.ok(choice.reason.length > 10, choice.reason);
  assert.ok((choice.probeMs ?? Number.POSITIVE_INFINITY) < 10_000);
  assert.ok(await gone([]), "no probe process is left");
});

test("with no kernel to probe with (a netboot) it is TCG, unless a probe of this QEMU already ran", async () => {
  const working = await fakeQemu(
    "working-later",
    'echo "Kernel panic - not syncing: VFS: Unable to mount root fs"\nexec sleep 600',
  );
  const options = { qemu: working.path, device: "/dev/null" };
  const blind = await chooseAccelerator("auto", options);
  assert.deepEqual(blind, { accel: "tcg", reason: "there is no kernel to probe KVM with" });
  assert.deepEqual(await working.starts(), [], "nothing was started");
  await assert.rejects(chooseAccelerator("kvm", options), (error: unknown) => {
    assert.ok(error instanceof RootstockError);
    assert.equal(error.code, "ERR_VM_KVM_UNAVAILABLE");
    assert.match(error.message, /KVM was asked for, but there is no kernel to probe KVM with/);
    return true;
  });
  // A machine that boots a kernel probes; a netboot after it in the same process knows the answer.
  const probed = await chooseAccelerator("auto", { ...options, kernel: "/boot/none" });
  assert.equal(probed.accel, "kvm");
  assert.deepEqual(await chooseAccelerator("auto", options), probed);
  assert.equal((await working.starts()).length, 1);
  assert.ok(await gone((await working.starts()).map(Number)));
});

test("a probe's answer is remembered on disk: a hanging KVM costs its timeout once, not every run", async () => {
  const hanging = await fakeQemu("hanging-remembered", "exec sleep 600");
  const file = join(work, "cache", "kvm-probe.json");
  const kernel = join(work, "bzImage");
  await writeFile(kernel, "a kernel");
  const options = { kernel, qemu: hanging.path, device: "/dev/null", timeoutMs: 300 };
  const first = await rememberedProbe(options, { file });
  assert.equal(first.accel, "tcg");
  assert.match(first.reason, /made no progress within 0\.3s/);
  assert.equal((await hanging.starts()).length, 1);
  const stored = JSON.parse(await readFile(file, "utf8")) as Record<string, { accel: string; at: number }>;
  assert.deepEqual(
    Object.values(stored).map((entry) => entry.accel),
    ["tcg"],
  );

  const again = await rememberedProbe(options, { file });
  assert.equal(again.accel, "tcg");
  assert.match(
    again.reason,
    /made no progress within 0\.3s \(no output\) \(remembered from a probe at \d{4}-/,
  );
  assert.ok(again.rememberedFrom);
  assert.equal((await hanging.starts()).length, 1, "the second run does not probe");
  // A hard link to the kernel (a netboot bundle's vmlinuz) changes its ctime, not the kernel.
  await link(kernel, join(work, "vmlinuz-linked"));
  await rememberedProbe(options, { file });
  assert.equal((await hanging.starts()).length, 1, "a new link to the kernel does not probe again");

  // A day later, or with another QEMU or kernel, the probe runs again.
  await rememberedProbe(options, { file, now: () => Date.now() + 25 * 3600_000 });
  assert.equal((await hanging.starts()).length, 2);
  await writeFile(kernel, "another kernel");
  await rememberedProbe(options, { file });
  assert.equal((await hanging.starts()).length, 3);
  await writeFile(hanging.path, `${await readFile(hanging.path, "utf8")}# a new build\n`);
  await rememberedProbe(options, { file });
  assert.equal((await hanging.starts()).length, 4);
  await rememberedProbe(options, { file });
  assert.equal((await hanging.starts()).length, 4);
  assert.ok(await gone((await hanging.starts()).map(Number)));
});

test("a cancelled probe is not remembered, nor is anything when there is no device", async () => {
  const hanging = await fakeQemu("hanging-cancelled", "exec sleep 600");
  const file = join(work, "cancelled", "kvm-probe.json");
  const options = { kernel: "/boot/none", qemu: hanging.path, device: "/dev/null", timeoutMs: 5000 };
  const controller = new AbortController();
  const probe = rememberedProbe({ ...options, signal: controller.signal }, { file });
  while ((await hanging.starts()).length === 0) await sleep(20);
  controller.abort();
  assert.match((await probe).reason, /cancelled/);
  await assert.rejects(readFile(file), { code: "ENOENT" });
  const none = await rememberedProbe({ ...options, device: join(work, "no-kvm") }, { file });
  assert.match(none.reason, /does not exist/);
  await assert.rejects(readFile(file), { code: "ENOENT" });
  assert.ok(await gone((await hanging.starts()).map(Number)));
});
