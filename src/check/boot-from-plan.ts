/**
 * How a plan's image boots: the kernel (a file of a step's output), the command line, the initramfs
 * and disks (other images of the plan), memory, the boot timeout, the prompt and fatal patterns, and
 * the test modules. Pure: the caller builds the steps and images first (`imagesToBoot` says which).
 */
import type { StepOutput } from "../build/run-plan.ts";
import { RootstockError } from "../errors.ts";
import { imageSteps } from "../image/image-spec-from-plan.ts";
import { didYouMean } from "../plan/suggest.ts";
import type { Image, KernelRef, Plan } from "../plan/types.ts";
import { inlineName, pathWord } from "../units.ts";
import { PC_ARCHES } from "../vm/pc-arches.ts";
import type { VmDisk } from "../vm/qemu-args.ts";
import type { MachineOptions } from "./machine.ts";

const { closeSync, fstatSync, openSync, readdirSync, readSync, realpathSync, statSync } =
  process.getBuiltinModule("node:fs");
const { dirname, join } = process.getBuiltinModule("node:path");

export interface BootPlan {
  image: string;
  /** Everything a Machine needs except its name, run folder and events. */
  machine: Omit<MachineOptions, "name" | "runDir" | "emit" | "signal">;
  /** Test modules: absolute path, and as the plan names them. */
  tests: { path: string; display: string }[];
}

export interface BootContext {
  outputs: ReadonlyMap<string, StepOutput>;
  /** Built images by name: the image file. */
  images: ReadonlyMap<string, { path: string }>;
  /** Write to disk images instead of overlays (only for images copied out of the store). */
  persist?: boolean;
}

/** The images a boot of `name` needs built: itself, its initramfs, its further disks. */
/**
 * Booting a plan of another arch in an x86 machine would run the host's kind of guest, or nothing, and a
 * passed test would say so of the wrong system: refused before anything is built.
 */
export function checkBootableArch(plan: Plan): void {
  if (PC_ARCHES.includes(plan.arch)) return;
  throw new RootstockError(
    "ERR_BOOT_ARCH_UNSUPPORTED",
    `plan ${inlineName(plan.displayDir)} is for ${plan.arch}, and rootstock boots only x86 machines (qemu-system-x86_64: ${PC_ARCHES.join(", ")})`,
    {
      file: join(plan.displayDir, "plan.toml"),
      field: "arch",
      hint: `build its images with \`rootstock image\`, and boot them on a machine of that arch, or with QEMU for ${plan.arch} by hand`,
    },
  );
}

export function imagesToBoot(plan: Plan, name: string): string[] {
  const image = bootableImage(plan, name);
  const boot = image.boot as NonNullable<Image["boot"]>;
  return [...new Set([name, ...(boot.initrd === undefined ? [] : [boot.initrd]), ...boot.disks])];
}

/** The steps a boot of `name` needs built: its images' contents and the kernel's step, in plan order. */
export function stepsToBoot(plan: Plan, name: string): string[] {
  const kernel = kernelOf(plan, name);
  const wanted = new Set([...imageSteps(plan, imagesToBoot(plan, name)), kernel.step]);
  return [...plan.steps.keys()].filter((step) => wanted.has(step));
}

/** Images that have tests, in the plan's order. */
export function testedImages(plan: Plan): string[] {
  return [...plan.images.values()]
    .filter((image) => (image.boot?.tests.length ?? 0) > 0)
    .map((image) => image.name);
}

export function bootFromPlan(plan: Plan, name: string, context: BootContext): BootPlan {
  const image = bootableImage(plan, name);
  const boot = image.boot as NonNullable<Image["boot"]>;
  const kernelRef = kernelOf(plan, name);
  const kernelOutput = context.outputs.get(kernelRef.step);
  if (!kernelOutput) {
    throw new RootstockError(
      "ERR_IMAGE_STEP_NOT_BUILT",
      `the kernel of image "${name}" comes from step "${kernelRef.step}", which was not built`,
      {
        file: join(plan.displayDir, "plan.toml"),
        hint: "build the plan first (rootstock run)",
      },
    );
  }
  const kernel = join(kernelOutput.path, kernelRef.path);
  // Said here, not by QEMU: its "could not open kernel file" would read as a failed boot (or KVM).
  checkKernelFile(plan, kernelRef, kernelOutput.path, {
    what: `image "${name}"`,
    field: image.boot?.kernel ? `images.${name}.boot.kernel.path` : "kernel.path",
  });
  const built = (ref: string) => {
    const found = context.images.get(ref);
    if (!found) throw new Error(`bug: image ${ref} was not built before booting ${name}`);
    return found.path;
  };
  const disk = (ref: string): VmDisk => {
    const kind = plan.images.get(ref)?.kind;
    return kind === "squashfs"
      ? { path: built(ref), readOnly: true }
      : { path: built(ref), persist: context.persist === true };
  };
  const initrd =
    image.kind === "initramfs" ? built(name) : boot.initrd === undefined ? undefined : built(boot.initrd);
  const disks = [...(image.kind === "initramfs" ? [] : [disk(name)]), ...boot.disks.map(disk)];
  const cmdline = [kernelRef.cmdline, boot.cmdline]
    .filter((part) => part !== undefined && part !== "")
    .join(" ");
  return {
    image: name,
    machine: {
      kernel,
      disks,
      fatal: boot.fatal,
      ...(initrd === undefined ? {} : { initrd }),
      ...(cmdline === "" ? {} : { cmdline }),
      ...(boot.memoryBytes === undefined ? {} : { memoryBytes: boot.memoryBytes }),
      ...(boot.timeoutMs === undefined ? {} : { bootTimeoutMs: boot.timeoutMs }),
      ...(boot.prompt === undefined ? {} : { prompt: boot.prompt }),
    },
    tests: boot.tests.map((test) => ({ path: join(plan.dir, test), display: test })),
  };
}

function kernelOf(plan: Plan, name: string): KernelRef {
  const kernelRef = bootableImage(plan, name).boot?.kernel ?? plan.kernel;
  if (!kernelRef) {
    throw new RootstockError("ERR_PLAN_NO_KERNEL", `image "${name}" boots, but no kernel is declared`, {
      file: join(plan.displayDir, "plan.toml"),
      hint: 'add `kernel = { step = "linux", path = "boot/bzImage" }` to plan.toml or to the image\'s [boot] table',
    });
  }
  return kernelRef;
}

function bootableImage(plan: Plan, name: string): Image {
  const image = plan.images.get(name);
  const bootable = [...plan.images.values()]
    .filter((candidate) => candidate.boot)
    .map((candidate) => candidate.name);
  const netbooted = [...plan.images.values()]
    .filter((candidate) => candidate.netboot && !candidate.boot)
    .map((candidate) => candidate.name);
  const others = netbooted.length > 0 ? `; booted over the network: ${netbooted.join(", ")}` : "";
  if (!image) {
    throw new RootstockError("ERR_IMAGE_UNKNOWN", `plan ${plan.name} has no image "${name}"`, {
      file: join(plan.displayDir, "plan.toml"),
      hint:
        didYouMean(name, [...plan.images.keys()]) ||
        `bootable images of this plan: ${bootable.join(", ") || "none"}${others}`,
    });
  }
  if (!image.boot) {
    throw new RootstockError("ERR_IMAGE_NOT_BOOTABLE", `image "${name}" has no [images.${name}.boot] table`, {
      file: join(plan.displayDir, "plan.toml"),
      hint: image.netboot
        ? `it boots over the network: \`rootstock netboot ${pathWord(plan.displayDir)} ${name}\` serves it, and \`rootstock test\` runs its [netboot] tests`
        : `add one to boot it (cmdline, tests, …)${bootable.length > 0 ? `; bootable images: ${bootable.join(", ")}` : ""}${others}`,
    });
  }
  return image;
}

/**
 * A kernel.path that names no file in its step's output, a link out of it (QEMU would boot a host file
 * no key covers), or a file QEMU cannot boot: said with its field, before anything is built on it or
 * booted (QEMU's refusal would read as a failed start, or as the KVM probe's answer).
 */
export function checkKernelFile(
  plan: Plan,
  kernelRef: KernelRef,
  output: string,
  { what, field }: { what: string; field: string },
): void {
  const kernel = join(output, kernelRef.path);
  const where = `the kernel of ${what}, ${kernelRef.path} in step "${kernelRef.step}"'s output`;
  const located = { file: join(plan.displayDir, "plan.toml"), field };
  if (statSync(kernel, { throwIfNoEntry: false })?.isFile()) {
    const real = realpathSync(kernel);
    const outputReal = realpathSync(output);
    if (!real.startsWith(`${outputReal}/`))
      throw new RootstockError(
        "ERR_IMAGE_NO_KERNEL_FILE",
        `${where}, is a link that leads out of it (to ${real})`,
        {
          ...located,
          hint: `the kernel must be a file step "${kernelRef.step}" installs: copy it into $OUT rather than link to it`,
        },
      );
    if (!looksLikeKernel(kernel, plan.arch))
      throw new RootstockError(
        "ERR_IMAGE_NOT_A_KERNEL",
        `${where}, is not a kernel QEMU boots: neither a bzImage, a multiboot kernel, nor an ELF kernel with a PVH entry note`,
        {
          ...located,
          hint: "point kernel.path at the kernel the step builds (arch/x86/boot/bzImage, installed as boot/bzImage)",
        },
      );
    return;
  }
  const files = filesIn(dirname(kernel));
  throw new RootstockError("ERR_IMAGE_NO_KERNEL_FILE", `${where}, is not a file there`, {
    ...located,
    hint:
      files.length > 0
        ? `${dirname(kernelRef.path)}/ holds: ${files.slice(0, 10).join(", ")}`
        : `check the path against what step "${kernelRef.step}" installs`,
  });
}

function filesIn(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => entry.name);
  } catch {
    return [];
  }
}

/**
 * What QEMU can load as an x86 kernel (hw/i386/x86.c): a bzImage ("HdrS" at 0x202), a multiboot
 * kernel (its header in the first 8 KiB; as an ELF file only a 32-bit one), or an ELF file with a PVH
 * entry note (an uncompressed vmlinux built with CONFIG_PVH). Any other file, a program, QEMU refuses.
 * Other arches are not checked.
 */
function looksLikeKernel(file: string, arch: string): boolean {
  if (arch !== "x86_64" && arch !== "i686") return true;
  const fd = openSync(file, "r");
  try {
    const head = Buffer.alloc(MULTIBOOT_SEARCH + 12);
    const read = readSync(fd, head, 0, head.length, 0);
    if (head.toString("latin1", 0x202, 0x206) === "HdrS") return true;
    const elf = head.toString("latin1", 0, 4) === "\x7fELF";
    const multiboot = multibootFlags(head.subarray(0, read));
    // With its own load addresses, any file; without them QEMU loads it as an ELF file, a 32-bit one.
    if (multiboot !== undefined) return (multiboot & MULTIBOOT_AOUT_KLUDGE) !== 0 || (elf && head[4] === 1);
    return elf && hasPvhNote(fd, head, fstatSync(fd).size);
  } catch (error) {
    // A damaged file whose fields lead past what was read: no kernel QEMU boots.
    if (error instanceof RangeError) return false;
    throw error;
  } finally {
    closeSync(fd);
  }
}

/** QEMU looks for the header at 4-byte offsets below 8192 - 48 (hw/i386/multiboot.c). */
const MULTIBOOT_SEARCH = 8192 - 48;
const MULTIBOOT_MAGIC = 0x1badb002;
/** With it, a multiboot header gives its own load addresses, and QEMU loads the file whatever it is. */
const MULTIBOOT_AOUT_KLUDGE = 0x10000;

/** A multiboot header's flags: its magic at a 4-byte boundary in the first 8 KiB, with a checksum that adds up. */
function multibootFlags(head: Buffer): number | undefined {
  for (let at = 0; at < MULTIBOOT_SEARCH && at + 12 <= head.length; at += 4) {
    if (head.readUInt32LE(at) !== MULTIBOOT_MAGIC) continue;
    const flags = head.readUInt32LE(at + 4);
    if (((MULTIBOOT_MAGIC + flags + head.readUInt32LE(at + 8)) & 0xffffffff) === 0) return flags;
  }
  return undefined;
}

/** XEN_ELFNOTE_PHYS32_ENTRY, the note QEMU's x86 -kernel needs in an ELF file. */
const PVH_NOTE = 18;

/** Whether an ELF file has the PVH note; offsets past the file's end (a damaged file) mean it has none. */
function hasPvhNote(fd: number, head: Buffer, fileSize: number): boolean {
  const is64 = head[4] === 2;
  const little = head[5] === 1;
  const u16 = (buffer: Buffer, at: number) => (little ? buffer.readUInt16LE(at) : buffer.readUInt16BE(at));
  const u32 = (buffer: Buffer, at: number) => (little ? buffer.readUInt32LE(at) : buffer.readUInt32BE(at));
  const word = (buffer: Buffer, at: number) =>
    is64 ? Number(little ? buffer.readBigUInt64LE(at) : buffer.readBigUInt64BE(at)) : u32(buffer, at);
  const phoff = word(head, is64 ? 0x20 : 0x1c);
  const phentsize = u16(head, is64 ? 0x36 : 0x2a);
  const phnum = u16(head, is64 ? 0x38 : 0x2c);
  // An entry smaller than the ELF class's (56 bytes, 32 for 32-bit) is a damaged header.
  if (phentsize < (is64 ? 56 : 32) || phnum === 0 || phnum > 256 || phoff + phentsize * phnum > fileSize)
    return false;
  const table = Buffer.alloc(phentsize * phnum);
  if (readSync(fd, table, 0, table.length, phoff) < table.length) return false;
  for (let index = 0; index < phnum; index++) {
    const entry = index * phentsize;
    if (u32(table, entry) !== 4) continue; // PT_NOTE
    const offset = word(table, entry + (is64 ? 8 : 4));
    if (offset >= fileSize) continue;
    const size = Math.min(word(table, entry + (is64 ? 32 : 16)), 1 << 20, fileSize - offset);
    const notes = Buffer.alloc(size);
    const read = readSync(fd, notes, 0, size, offset);
    for (let at = 0; at + 12 <= read; ) {
      const nameSize = u32(notes, at);
      const descSize = u32(notes, at + 4);
      const type = u32(notes, at + 8);
      const name = notes.toString("latin1", at + 12, at + 12 + Math.max(0, nameSize - 1));
      if (name === "Xen" && type === PVH_NOTE) return true;
      at += 12 + Math.ceil(nameSize / 4) * 4 + Math.ceil(descSize / 4) * 4;
    }
  }
  return false;
}
