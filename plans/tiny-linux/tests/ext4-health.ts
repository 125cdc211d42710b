/**
 * Whether an ext4 file system was left clean: read on the host, after the machine is gone, from the
 * disk file QEMU wrote (a qcow2 overlay, copied to a raw image for e2fsprogs). Clean means the
 * superblock says so, no journal waits to be replayed, and a forced read-only e2fsck finds nothing.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface Ext4Health {
  /** `Filesystem state:` of dumpe2fs, e.g. "clean" or "not clean". */
  state: string;
  /** The journal holds transactions not yet written to their places (an unclean stop). */
  needsRecovery: boolean;
  /** e2fsck -fn's exit status (0: no errors) and its output. */
  fsck: { status: number; output: string };
}

export async function ext4Health(disk: string): Promise<Ext4Health> {
  const scratch = await mkdtemp(join(tmpdir(), "tiny-linux-disk-"));
  try {
    const raw = join(scratch, "disk.raw");
    await run("qemu-img", ["convert", "-O", "raw", disk, raw]);
    const { stdout: header } = await run("dumpe2fs", ["-h", raw]);
    const state = /^Filesystem state:\s*(.+)$/m.exec(header)?.[1]?.trim() ?? "(none)";
    const features = /^Filesystem features:\s*(.+)$/m.exec(header)?.[1] ?? "";
    const fsck = await run("e2fsck", ["-fn", raw]).then(
      ({ stdout, stderr }) => ({ status: 0, output: stdout + stderr }),
      (error: { code?: number; stdout?: string; stderr?: string }) => ({
        status: typeof error.code === "number" ? error.code : -1,
        output: `${error.stdout ?? ""}${error.stderr ?? ""}`,
      }),
    );
    return { state, needsRecovery: features.split(/\s+/).includes("needs_recovery"), fsck };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
