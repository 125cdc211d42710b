/**
 * What `uname -r` must say on a tiny-linux machine, from two sides: what the plan declares (the linux
 * step's version and the kernel config's CONFIG_LOCALVERSION), and what the kernel file QEMU booted
 * says of itself.
 */
import { open, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Machine, TestContext } from "rootstock/check";

const PLAN = join(import.meta.dirname, "..");

/** The linux step's `version` followed by the config's CONFIG_LOCALVERSION: "6.1.176" + "-tiny". */
export async function declaredKernelRelease(): Promise<string> {
  const step = await readFile(join(PLAN, "steps/linux/step.toml"), "utf8");
  const config = await readFile(join(PLAN, "steps/linux/files/tiny-linux.config"), "utf8");
  const version = /^version\s*=\s*"([^"]+)"/m.exec(step)?.[1];
  const local = /^CONFIG_LOCALVERSION="([^"]*)"/m.exec(config)?.[1] ?? "";
  if (version === undefined) throw new Error("steps/linux/step.toml has no version");
  return `${version}${local}`;
}

/**
 * The release of the kernel file this machine booted, read from the file itself: an x86 bzImage
 * carries its version string in its setup header (`kernel_version`, the x86 boot protocol), and
 * `uname -r` is its first word. The file is the one on QEMU's command line; a machine netbooted
 * through iPXE has none there, and booted the linux step's bzImage as the bundle carries it (checked
 * by its sha256), so that file is read from the step's output. Undefined when neither is known.
 */
export async function bootedKernelRelease(
  machine: Machine,
  context: TestContext,
): Promise<string | undefined> {
  const command = machine.vm?.command ?? [];
  const at = command.indexOf("-kernel");
  const linux = context.outputs.linux;
  const kernel = at >= 0 ? command[at + 1] : linux === undefined ? undefined : join(linux, "boot", "bzImage");
  if (kernel === undefined) return undefined;
  const file = await open(kernel);
  try {
    const { buffer, bytesRead } = await file.read(Buffer.alloc(64 * 1024), 0, 64 * 1024, 0);
    const header = buffer.subarray(0, bytesRead);
    if (header.toString("latin1", 0x202, 0x206) !== "HdrS") throw new Error(`${kernel} is not a bzImage`);
    const start = 0x200 + header.readUInt16LE(0x20e);
    const end = header.indexOf(0, start);
    if (end < 0) throw new Error(`${kernel}: the version string runs past the setup header`);
    return header.toString("latin1", start, end).split(" ")[0];
  } finally {
    await file.close();
  }
}
