/**
 * The KVM probe's answer, remembered on disk (the store's `cache/kvm-probe.json`): on a host where
 * /dev/kvm exists and hangs, every run would otherwise pay the probe's whole timeout. An answer holds
 * while the QEMU binary, the kernel it booted, /dev/kvm and the host's boot are the same ones — each
 * known by its path, device, inode, size and times, /dev/kvm by its device number and permissions, the
 * boot by the kernel's boot_id — and for at most `ttlMs`.
 */
import { createSha256 } from "../digest.ts";
import { findOnPath, hostPath } from "../host/tools.ts";
import { type AcceleratorChoice, CANCELLED, type ProbeOptions, probeKvm } from "./accelerator.ts";

const { mkdir, readFile, realpath, rename, stat, writeFile } = process.getBuiltinModule("node:fs/promises");
const { dirname } = process.getBuiltinModule("node:path");

export interface ProbeMemoryOptions {
  /** The cache file. */
  file: string;
  /** How long an answer holds (default a day). */
  ttlMs?: number;
  /** The clock, for tests (default Date.now). */
  now?: () => number;
  /** The probe to run when nothing is remembered (default probeKvm). */
  probe?: (options: ProbeOptions) => Promise<AcceleratorChoice>;
}

interface Remembered {
  accel: AcceleratorChoice["accel"];
  reason: string;
  probeMs?: number;
  /** When the probe ran (ms since the epoch). */
  at: number;
}

export const PROBE_MEMORY_TTL_MS = 24 * 60 * 60 * 1000;

export async function rememberedProbe(
  options: ProbeOptions & { kernel: string },
  memory: ProbeMemoryOptions,
): Promise<AcceleratorChoice> {
  const probe = memory.probe ?? probeKvm;
  const now = memory.now ?? Date.now;
  const ttlMs = memory.ttlMs ?? PROBE_MEMORY_TTL_MS;
  const identity = await probeIdentity(options);
  // Without a binary or a device to know it by, there is nothing to remember: the probe answers at once.
  if (identity === undefined) return probe(options);
  const entries = await readEntries(memory.file);
  const known = entries[identity];
  if (known && now() - known.at >= 0 && now() - known.at < ttlMs) {
    return {
      accel: known.accel,
      reason: `${known.reason} (remembered from a probe at ${new Date(known.at).toISOString()})`,
      rememberedFrom: new Date(known.at).toISOString(),
    };
  }
  const choice = await probe(options);
  if (choice.reason === CANCELLED) return choice;
  for (const [name, entry] of Object.entries(entries)) if (now() - entry.at >= ttlMs) delete entries[name];
  entries[identity] = {
    accel: choice.accel,
    reason: choice.reason,
    at: now(),
    ...(choice.probeMs === undefined ? {} : { probeMs: choice.probeMs }),
  };
  await writeEntries(memory.file, entries);
  return choice;
}

/** What the answer depends on, as one digest; undefined when QEMU or the device cannot be found. */
async function probeIdentity(options: ProbeOptions & { kernel: string }): Promise<string | undefined> {
  const qemu = await findOnPath(options.qemu ?? "qemu-system-x86_64", hostPath());
  if (qemu === undefined) return undefined;
  const device = options.device ?? "/dev/kvm";
  const deviceInfo = await stat(device, { bigint: true }).catch(() => undefined);
  if (deviceInfo === undefined) return undefined;
  const fileIdentity = async (path: string) => {
    const real = await realpath(path).catch(() => path);
    const info = await stat(real, { bigint: true }).catch(() => undefined);
    return info
      ? // Not its change time: a hard link to a store's kernel (a netboot bundle's) changes it, not the file.
        [real, info.dev, info.ino, info.size, info.mtimeNs].join(":")
      : `${real}:missing`;
  };
  const bootId = (await readFile("/proc/sys/kernel/random/boot_id", "utf8").catch(() => "")).trim();
  const parts = [
    await fileIdentity(qemu),
    await fileIdentity(options.kernel),
    [device, deviceInfo.rdev, deviceInfo.mode, deviceInfo.uid, deviceInfo.gid].join(":"),
    bootId,
    String(options.timeoutMs ?? ""),
  ];
  return createSha256().update(parts.join("\n")).digest("hex");
}

async function readEntries(file: string): Promise<Record<string, Remembered>> {
  try {
    const parsed = JSON.parse(await readFile(file, "utf8")) as unknown;
    return parsed !== null && typeof parsed === "object" ? (parsed as Record<string, Remembered>) : {};
  } catch {
    return {};
  }
}

async function writeEntries(file: string, entries: Record<string, Remembered>): Promise<void> {
  try {
    await mkdir(dirname(file), { recursive: true });
    const staged = `${file}.${process.pid}`;
    await writeFile(staged, `${JSON.stringify(entries, null, 2)}\n`);
    await rename(staged, file);
  } catch {
    // A memory that cannot be written only costs the next run a probe.
  }
}
