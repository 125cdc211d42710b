/**
 * A squashfs image made by mksquashfs, reproducible by its own default plus fixed times; owners and
 * device nodes the staged files cannot carry go in as pseudo-file definitions.
 */
import { runCommand } from "../host/run-command.ts";
import type { Compression } from "../plan/types.ts";
import { IMAGE_TIME, type StagedTree } from "./stage-tree.ts";

const { writeFile } = process.getBuiltinModule("node:fs/promises");
const { join } = process.getBuiltinModule("node:path");

export interface SquashfsOptions {
  name: string;
  compression: Compression;
  scratch: string;
  signal?: AbortSignal;
}

const COMPRESSION_ARGS: Record<Compression, string[]> = {
  gzip: ["-comp", "gzip"],
  xz: ["-comp", "xz"],
  zstd: ["-comp", "zstd"],
  none: ["-noI", "-noD", "-noF", "-noX"],
};

export async function buildSquashfs(
  tree: StagedTree,
  output: string,
  options: SquashfsOptions,
): Promise<void> {
  const root = tree.entries.find((entry) => entry.path === ".");
  const pseudo = pseudoDefinitions(tree);
  const args = [
    tree.root,
    output,
    "-noappend",
    "-quiet",
    "-no-progress",
    "-no-xattrs",
    "-all-time",
    String(IMAGE_TIME),
    "-mkfs-time",
    String(IMAGE_TIME),
    "-root-time",
    String(IMAGE_TIME),
    "-root-mode",
    (root?.mode ?? 0o755).toString(8),
    "-root-uid",
    String(root?.uid ?? 0),
    "-root-gid",
    String(root?.gid ?? 0),
    ...COMPRESSION_ARGS[options.compression],
  ];
  if (pseudo.everyoneRoot) args.push("-all-root");
  if (pseudo.lines.length > 0) {
    // mksquashfs 4.5 reads pseudo definitions from a file only (not from standard input).
    const file = join(options.scratch, "pseudo");
    await writeFile(file, `${pseudo.lines.join("\n")}\n`);
    args.push("-pf", file);
  }
  await runCommand("mksquashfs", args, {
    signal: options.signal,
    code: "ERR_IMAGE_TOOL_FAILED",
    what: `making the squashfs image ${options.name}`,
  });
}

/**
 * `-all-root` wins over every definition's owner, so it serves only when no entry wants another owner;
 * else each entry whose staged copy has another owner than it wants gets an `m` (modify) definition, as
 * does one whose staged copy has another mode.
 */
export function pseudoDefinitions(tree: Pick<StagedTree, "entries" | "devices">): {
  everyoneRoot: boolean;
  lines: string[];
} {
  const everyoneRoot =
    tree.entries.every((entry) => entry.uid === 0 && entry.gid === 0) &&
    tree.devices.every((device) => device.uid === 0 && device.gid === 0);
  const lines: string[] = [];
  for (const entry of tree.entries) {
    if (entry.path === ".") continue;
    // -all-root leaves a definition's mode in force: a mode a rootless build opened is still set.
    const owned = everyoneRoot || (entry.uid === entry.diskUid && entry.gid === entry.diskGid);
    if (owned && entry.mode === entry.diskMode) continue;
    lines.push(`${quote(entry.path)} m ${entry.mode.toString(8)} ${entry.uid} ${entry.gid}`);
  }
  for (const device of tree.devices) {
    const type = device.type === "char" ? "C" : "B";
    lines.push(
      `${quote(device.path)} ${type} ${IMAGE_TIME} ${device.mode.toString(8)} ${device.uid} ${device.gid} ${device.major} ${device.minor}`,
    );
  }
  return { everyoneRoot, lines };
}

/** A name as mksquashfs reads a pseudo definition's: quoted when it has spaces, quote and backslash escaped. */
function quote(path: string): string {
  // Staging refuses names with a newline; one here is a bug.
  if (path.includes("\n"))
    throw new Error(`a name with a newline reached mksquashfs: ${JSON.stringify(path)}`);
  return /[\s"\\]/.test(path) ? `"${path.replace(/["\\]/g, "\\$&")}"` : path;
}
