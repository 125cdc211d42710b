/**
 * A machine that netboots a plan's image, as its `[netboot]` table describes it (memory, timeout,
 * prompt, fatal patterns, tests), from a server it reaches at `base`: QEMU's own iPXE ROM fetches
 * `boot.ipxe` there. On QEMU's user network the host's loopback is 10.0.2.2. Pure.
 */
import type { TestTarget } from "../check/run-tests.ts";
import type { Plan } from "../plan/types.ts";
import { QEMU_HOST } from "./boot-instructions.ts";
import type { NetbootBundle } from "./build-bundle.ts";
import type { NetbootImage } from "./plan-netboot.ts";

const { join } = process.getBuiltinModule("node:path");

export interface NetbootMachineOptions {
  /** The port of a server on this host's loopback (or every interface). */
  port: number;
  /** The bundle it serves: its kernel is what the KVM probe boots. */
  bundle: NetbootBundle;
}

export type NetbootMachine = TestTarget["machine"];

/** The bootfile URL a guest on QEMU's user network uses for a server on the host's port. */
export function guestBootfile(port: number): string {
  return `http://${QEMU_HOST}:${port}/boot.ipxe`;
}

export function netbootMachine(image: NetbootImage, options: NetbootMachineOptions): NetbootMachine {
  const { netboot } = image;
  return {
    netboot: {
      bootfile: guestBootfile(options.port),
      probeKernel: join(options.bundle.dir, "vmlinuz"),
    },
    fatal: netboot.fatal,
    ...(netboot.memoryBytes === undefined ? {} : { memoryBytes: netboot.memoryBytes }),
    ...(netboot.timeoutMs === undefined ? {} : { bootTimeoutMs: netboot.timeoutMs }),
    ...(netboot.prompt === undefined ? {} : { prompt: netboot.prompt }),
  };
}

/** The image's `[netboot] tests`, each on a machine that netboots from the server. */
export function netbootTestTarget(
  plan: Plan,
  image: NetbootImage,
  options: NetbootMachineOptions,
): TestTarget {
  return {
    image: image.name,
    machine: netbootMachine(image, options),
    modules: image.netboot.tests.map((test) => ({ path: join(plan.dir, test), display: test })),
  };
}
