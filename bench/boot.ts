/**
 * Boot to first command under TCG: from starting QEMU to the first `succeed("true")` answered by the
 * guest's shell, with Debian's cloud kernel and a busybox initramfs (the test fixtures). Also the
 * parts (QEMU up, init running, shell ready) and how fast output comes back over the serial line.
 *
 *     node bench/boot.ts [runs]        (default 5)
 */
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { Machine } from "../src/check/machine.ts";
import { probeKvm } from "../src/vm/accelerator.ts";
import { testCacheDir } from "../test/fixtures/debian-kernel.ts";
import { CMDLINE, testGuest } from "../test/fixtures/guest.ts";

const runs = Number(process.argv[2] ?? 5);
const work = join(testCacheDir(), "bench");
await mkdir(work, { recursive: true });
const guest = await testGuest({ storeDir: work });

const probe = await probeKvm({ kernel: guest.kernel });
console.log(`KVM probe: ${probe.accel} in ${probe.probeMs}ms (${probe.reason})`);
console.log(
  `kernel ${guest.kernel.split("/").pop()}, initramfs ${(guest.initrd.bytes / 1024).toFixed(0)} KiB, TCG, 1 vCPU, 256 MiB`,
);

interface Sample {
  qemuUp: number;
  initDone: number;
  firstCommand: number;
  output100k: number;
}

const samples: Sample[] = [];
for (let run = 0; run < runs; run++) {
  const runDir = join(work, `run${run}`);
  await rm(runDir, { recursive: true, force: true });
  const machine = new Machine({
    name: `bench${run}`,
    kernel: guest.kernel,
    initrd: guest.initrd.path,
    cmdline: CMDLINE,
    runDir,
    accel: "tcg",
  });
  try {
    const started = performance.now();
    await machine.start();
    const qemuUp = performance.now() - started;
    await machine.waitForConsole(/guest: init done/);
    const initDone = performance.now() - started;
    await machine.succeed("true");
    const firstCommand = performance.now() - started;
    const before = performance.now();
    const output = await machine.execute("head -c 102400 /dev/zero | tr '\\0' x");
    const output100k = performance.now() - before;
    if (output.bytes.length !== 102400)
      throw new Error(`expected 100 KiB of output, got ${output.bytes.length} bytes`);
    samples.push({ qemuUp, initDone, firstCommand, output100k });
    await machine.shutdown();
  } finally {
    await machine.stop();
  }
}

const stats = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] as number;
  return `median ${(median / 1000).toFixed(2)}s  min ${((sorted[0] as number) / 1000).toFixed(2)}s  max ${((sorted.at(-1) as number) / 1000).toFixed(2)}s`;
};
console.log(`${runs} boots:`);
console.log(`  QEMU started, console and QMP connected  ${stats(samples.map((sample) => sample.qemuUp))}`);
console.log(`  init running ("guest: init done")       ${stats(samples.map((sample) => sample.initDone))}`);
console.log(
  `  boot to first command (succeed("true"))  ${stats(samples.map((sample) => sample.firstCommand))}`,
);
console.log(`  100 KiB of output back over serial      ${stats(samples.map((sample) => sample.output100k))}`);
