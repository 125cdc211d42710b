/**
 * `rootstock boot` as a library call: in one run, build what an image's boot needs, make the images,
 * start QEMU and hand its console to a person (`attach`) until they leave or the machine stops; QEMU
 * is stopped either way. Disks are copy-on-write overlays in the run folder, or with `persist` copies
 * kept outside the store (persistent-copy.ts) that the guest writes to.
 */
import type { RunResult } from "../build/run-plan.ts";
import { RunSession } from "../build/run-session.ts";
import { RootstockError } from "../errors.ts";
import type { Emit } from "../events.ts";
import type { ToolIdentity } from "../host/tools.ts";
import { buildPlanImages, hostTools } from "../image/build-plan-images.ts";
import { type PersistentCopy, persistentCopy, persistentDiskDir } from "../image/persistent-copy.ts";
import type { Graph } from "../plan/graph.ts";
import { narrowGraph } from "../plan/narrow-graph.ts";
import type { Accelerator } from "../vm/qemu-args.ts";
import { type QemuVm, startQemu, type VmExit } from "../vm/qemu-vm.ts";
import { bootFromPlan, checkBootableArch, imagesToBoot, stepsToBoot } from "./boot-from-plan.ts";
import { PANIC } from "./machine.ts";

const { readFile } = process.getBuiltinModule("node:fs/promises");
const { availableParallelism } = process.getBuiltinModule("node:os");
const { join } = process.getBuiltinModule("node:path");

export interface BootPlanOptions {
  /** The options the command was given, for the report's command line. */
  commandOptions?: readonly string[];
  storeDir: string;
  /** The image to boot (default: the plan's first bootable image). */
  image?: string;
  /** Write through to copies of the disks kept outside the store, under `diskDir` (default false). */
  persist?: boolean;
  /** Where persistent copies live (default `persistentDiskDir()`). */
  diskDir?: string;
  /**
   * Connects a person to the running machine: resolves `detached` when they leave (QEMU is then
   * stopped) or `exited` when the machine stopped by itself.
   */
  attach: (vm: QemuVm) => Promise<"detached" | "exited">;
  jobs?: number;
  emit?: Emit;
  signal?: AbortSignal;
  offline?: boolean;
  mirrors?: readonly string[];
  tools?: ReadonlyMap<string, ToolIdentity | undefined>;
  accel?: Accelerator | "auto";
}

export interface BootPlanResult {
  /** Built, booted, and left or stopped (a build that failed is not ok). */
  ok: boolean;
  runId: string;
  runDir: string;
  image: string;
  build: RunResult;
  /** Persistent disk copies in use. */
  disks: PersistentCopy[];
  /** How the console ended, and how QEMU did; undefined when nothing booted. */
  ended?: "detached" | "exited";
  exit?: VmExit;
  /** Ctrl-C or SIGTERM ended it (recorded so; the command exits as interrupted). */
  interrupted?: boolean;
  /** The console's `Kernel panic` line, when the kernel panicked (the run is recorded as failed). */
  panic?: string;
}

export async function bootPlan(graph: Graph, options: BootPlanOptions): Promise<BootPlanResult> {
  const plan = graph.plan;
  checkBootableArch(plan);
  const image = options.image ?? firstBootable(graph);
  const steps = stepsToBoot(plan, image);
  const needed = narrowGraph(graph, steps, { neededBy: `the boot of image ${image}` });
  const jobs = options.jobs ?? availableParallelism();
  const tools = options.tools ?? (await hostTools(needed, options.storeDir));
  const session = await RunSession.open(needed, {
    storeDir: options.storeDir,
    command: "boot",
    ...(options.commandOptions ? { options: options.commandOptions } : {}),
    ...(options.image === undefined ? {} : { targets: [options.image] }),
    jobs,
    tools,
    ...(options.emit ? { emit: options.emit } : {}),
  });
  let vm: QemuVm | undefined;
  try {
    const made = await buildPlanImages(needed, {
      storeDir: options.storeDir,
      images: imagesToBoot(plan, image),
      alsoBuild: steps,
      session,
      jobs,
      tools,
      offline: options.offline ?? false,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.mirrors ? { mirrors: options.mirrors } : {}),
    });
    const result = { runId: session.runId, runDir: session.runDir, image, build: made.build };
    if (!made.ok) {
      await session.close({ ok: false, interrupted: options.signal?.aborted ?? false });
      return { ...result, ok: false, disks: [] };
    }
    const images = new Map(made.images);
    const disks: PersistentCopy[] = [];
    if (options.persist) {
      for (const [name, built] of made.images) {
        if (built.kind !== "ext4") continue;
        const copy = await persistentCopy(built, {
          plan: plan.name,
          dir: options.diskDir ?? persistentDiskDir(),
          ...(options.signal ? { signal: options.signal } : {}),
        });
        disks.push(copy);
        images.set(name, { ...built, path: copy.path });
        session.emit({ type: "vm:persist", machine: image, ...copy });
      }
    }
    const boot = bootFromPlan(plan, image, {
      outputs: made.build.outputs,
      images,
      persist: options.persist === true,
    });
    const { kernel, initrd, cmdline, disks: vmDisks, memoryBytes } = boot.machine;
    vm = await startQemu(
      {
        name: image,
        kernel,
        ...(initrd === undefined ? {} : { initrd }),
        ...(cmdline === undefined ? {} : { cmdline }),
        ...(vmDisks === undefined ? {} : { disks: vmDisks }),
        ...(memoryBytes === undefined ? {} : { memoryBytes }),
      },
      {
        runDir: join(session.runDir, image),
        emit: session.emit,
        probeMemoryFile: join(options.storeDir, "cache", "kvm-probe.json"),
        ...(options.accel ? { accel: options.accel } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      },
    );
    const ended = await options.attach(vm);
    const exit = ended === "detached" ? await vm.quit() : await vm.exited;
    // Ctrl-C or SIGTERM ended the console: the boot was interrupted, not left.
    const interrupted = options.signal?.aborted ?? false;
    // A session has no tests, but a kernel that panicked did not boot: the run failed.
    const panic = (await readFile(vm.consoleLog, "utf8").catch(() => ""))
      .split("\n")
      .find((line) => PANIC.test(line))
      ?.trim();
    await session.close({ ok: panic === undefined, interrupted });
    return {
      ...result,
      ok: true,
      disks,
      ended,
      exit,
      ...(interrupted ? { interrupted } : {}),
      ...(panic === undefined ? {} : { panic }),
    };
  } catch (error) {
    await vm?.kill();
    return await session.closeWithError(error, options.signal?.aborted ?? false);
  }
}

function firstBootable(graph: Graph): string {
  const bootable = [...graph.plan.images.values()].filter((image) => image.boot).map((image) => image.name);
  const first = bootable[0];
  if (first === undefined) {
    throw new RootstockError("ERR_IMAGE_NOT_BOOTABLE", `plan ${graph.plan.name} has no bootable image`, {
      file: join(graph.plan.displayDir, "plan.toml"),
      hint: 'give an image a boot table: [images.NAME.boot] cmdline = "…" (see docs/plans.md, "Boot tests")',
    });
  }
  return first;
}
