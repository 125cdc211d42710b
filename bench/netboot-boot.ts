/**
 * Netboot to first command under TCG, on the flagship plan: from starting QEMU to the first command
 * answered by the netbooted system's shell, over loopback HTTP (the guest sees the host as 10.0.2.2).
 * Also where the time goes: firmware to iPXE, iPXE until it asks for boot.ipxe (its Ctrl-B wait),
 * the kernel and RAM root download, the kernel's boot, the RAM root (DHCP, squashfs fetch and check,
 * mounts), the system's init, and the shell. Prints figures; asserts nothing.
 *
 *     node bench/netboot-boot.ts [runs]      (default 5; store: $ROOTSTOCK_STORE, else the tests' store)
 *
 * The first run of a cold store builds the flagship plan (minutes); the figures exclude it.
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RunSession } from "../src/build/run-session.ts";
import { Machine } from "../src/check/machine.ts";
import type { RootstockEvent } from "../src/events.ts";
import { netbootMachine } from "../src/netboot/netboot-machine.ts";
import { openNetbootPlan, prepareNetboot } from "../src/netboot/prepare-netboot.ts";
import { serveNetboot } from "../src/netboot/serve-netboot.ts";
import { flagshipNetboot } from "../test/helpers/flagship-netboot.ts";
import { sharedStoreDir } from "../test/helpers/shared-store.ts";

const runs = Number(process.argv[2] ?? 5);
const storeDir = process.env.ROOTSTOCK_STORE ?? sharedStoreDir();
const flagship = await flagshipNetboot();
const work = await mkdtemp(join(tmpdir(), "rootstock-bench-netboot-boot-"));

/** Console lines and requests, each with when it arrived. */
interface Mark {
  at: number;
  text: string;
}

try {
  const { graph, tools } = await openNetbootPlan(flagship.dir, { cacheDir: join(storeDir, "cache") });
  const session = await RunSession.open(graph, { storeDir, command: "netboot", jobs: 2, tools });
  let marks: Mark[] = [];
  const record = (event: RootstockEvent) => {
    if (event.type === "vm:console") marks.push({ at: performance.now(), text: event.line });
    if (event.type === "netboot:request" && event.complete) {
      marks.push({ at: performance.now(), text: `request ${event.path} ${event.bytes}` });
    }
  };
  try {
    const prepared = await prepareNetboot(graph, { session, tools });
    const { manifest } = prepared.bundle;
    const serving = await serveNetboot(prepared.bundle, { emit: record });
    console.log(
      `flagship ${prepared.image.name}: vmlinuz ${kib(manifest.files.vmlinuz.size)}, initrd.img ${kib(manifest.files["initrd.img"].size)}, system.squashfs ${kib(manifest.squashfs.size)}; TCG, 1 vCPU`,
    );
    const samples: Record<string, number>[] = [];
    try {
      for (let run = 0; run < runs; run++) {
        const runDir = join(work, `run${run}`);
        await mkdir(runDir, { recursive: true });
        const machine = new Machine({
          ...netbootMachine(prepared.image, { port: serving.server.port, bundle: prepared.bundle }),
          name: `bench${run}`,
          runDir,
          accel: "tcg",
          emit: record,
        });
        try {
          marks = [];
          const started = performance.now();
          await machine.start();
          const qemuUp = performance.now();
          await machine.succeed("true");
          const firstCommand = performance.now();
          const at = (pattern: RegExp) => {
            const mark = marks.find((candidate) => pattern.test(candidate.text));
            if (!mark) throw new Error(`no console line or request matched ${pattern}`);
            return mark.at;
          };
          const points = [
            ["QEMU started", qemuUp],
            ["iPXE on the console", at(/iPXE/)],
            ["boot.ipxe fetched", at(/^request \/boot\.ipxe /)],
            ["kernel and RAM root fetched", at(/^request \/initrd\.img /)],
            ["kernel running", at(/Linux version/)],
            ["RAM root running (its first line)", at(/^rootstock-netboot /)],
            ["squashfs fetched", at(/^request \/system\.squashfs /)],
            ["switch_root to the system", at(/rootstock-netboot .*switch_root/)],
            ["system up (rcS done)", at(/tiny-linux: up/)],
            ["first command answered", firstCommand],
          ] as const;
          const sample: Record<string, number> = {};
          let previous = started;
          for (const [name, time] of points) {
            sample[name] = time - previous;
            previous = time;
          }
          sample.total = firstCommand - started;
          sample["iPXE to the system's init"] = at(/tiny-linux: up/) - at(/iPXE/);
          samples.push(sample);
          console.log(`run ${run + 1}: netboot to first command ${seconds(sample.total as number)}`);
        } finally {
          await machine.stop();
        }
      }
    } finally {
      await serving.server.close();
    }
    const names = Object.keys(samples[0] ?? {});
    console.log(`${samples.length} netboots (each step: time since the previous one):`);
    for (const name of names) {
      console.log(`  ${name.padEnd(36)} ${stats(samples.map((sample) => sample[name] as number))}`);
    }
    await session.close({ ok: true });
  } catch (error) {
    await session.close({ ok: false });
    throw error;
  }
} finally {
  await flagship.remove();
  await rm(work, { recursive: true, force: true });
}

function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(0)} KiB`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)}s`;
}

function stats(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] as number;
  return `median ${seconds(median)}  min ${seconds(sorted[0] as number)}  max ${seconds(sorted.at(-1) as number)}`;
}
