/**
 * An initramfs: cpio "newc" archives made by the cpio tool (one per owner, root:root first), then the
 * device nodes, concatenated and compressed. The kernel unpacks concatenated archives in order.
 */
import { RootstockError } from "../errors.ts";
import { runCommand } from "../host/run-command.ts";
import type { Compression } from "../plan/types.ts";
import { newcDevices, TRAILER } from "./newc-devices.ts";
import { setNewcFields } from "./newc-headers.ts";
import type { StagedTree } from "./stage-tree.ts";

const { createReadStream, createWriteStream } = process.getBuiltinModule("node:fs");
const { appendFile, copyFile, rm, writeFile } = process.getBuiltinModule("node:fs/promises");
const { pipeline } = process.getBuiltinModule("node:stream/promises");
const { join } = process.getBuiltinModule("node:path");

export interface InitramfsOptions {
  /** Image name for messages. */
  name: string;
  compression: Compression;
  /** A folder for intermediate files, on the same file system as the output. */
  scratch: string;
  signal?: AbortSignal;
}

/** The command that compresses an initramfs; every one is deterministic (no names, no time, one thread). */
export const INITRAMFS_COMPRESSORS: Record<Exclude<Compression, "none">, [string, ...string[]]> = {
  gzip: ["gzip", "-9", "-n", "-c"],
  // The kernel's xz decoder checks CRC32 only.
  xz: ["xz", "--check=crc32", "-T1", "-c"],
  zstd: ["zstd", "-q", "-T1", "-c", "--no-progress"],
};

export async function buildInitramfs(
  tree: StagedTree,
  output: string,
  options: InitramfsOptions,
): Promise<void> {
  // The name that ends a newc archive: cpio -t and the kernel stop there, and drop what follows.
  if ([...tree.entries, ...tree.devices].some((entry) => entry.path === TRAILER))
    throw new RootstockError(
      "ERR_IMAGE_UNSUPPORTED_FILE",
      `image ${options.name}: its contents hold /${TRAILER}, the name that ends a cpio archive, which an initramfs cannot carry (the kernel would stop unpacking there)`,
      {
        hint: `rename /${TRAILER} where it comes from (the step that makes it, or the plan's files folder), or move it into a folder`,
      },
    );
  const groups = new Map<string, string[]>([["0:0", []]]);
  for (const entry of tree.entries) {
    const owner = `${entry.uid}:${entry.gid}`;
    // Folders always come first, as root's, so that every child has a parent to unpack into; an archive
    // later in the stream gives them their owner.
    if (entry.kind === "dir" || owner === "0:0") (groups.get("0:0") as string[]).push(entry.path);
    if (owner !== "0:0") {
      const group = groups.get(owner) ?? [];
      group.push(entry.path);
      groups.set(owner, group);
    }
  }
  // A folder's link count as ext4 keeps it (2, and 1 for each subfolder), whatever the store's file
  // system says of the staged copy (btrfs: always 1).
  const links = new Map<string, number>();
  for (const entry of tree.entries) {
    if (entry.kind !== "dir") continue;
    links.set(entry.path, 2);
    if (entry.path === ".") continue;
    const slash = entry.path.lastIndexOf("/");
    const parent = slash === -1 ? "." : entry.path.slice(0, slash);
    links.set(parent, (links.get(parent) ?? 2) + 1);
  }
  // Modes a rootless build opened on the staged copies, which cpio copies.
  const modes = new Map(
    tree.entries.filter((entry) => entry.mode !== entry.diskMode).map((entry) => [entry.path, entry.mode]),
  );
  const archive = join(options.scratch, "initramfs.cpio");
  await writeFile(archive, "");
  let index = 0;
  for (const [owner, paths] of groups) {
    const part = join(options.scratch, `part-${index++}.cpio`);
    await runCommand(
      "cpio",
      [
        "--create",
        "--format=newc",
        "--null",
        "--reproducible",
        "--quiet",
        `--owner=${owner}`,
        `--file=${part}`,
      ],
      {
        cwd: tree.root,
        input: Buffer.from(paths.map((path) => `${path}\0`).join("")),
        signal: options.signal,
        code: "ERR_IMAGE_TOOL_FAILED",
        what: "writing the initramfs archive",
      },
    );
    await setNewcFields(
      part,
      (name, fields) => ({ mode: modes.get(name) ?? fields.mode, nlink: links.get(name) ?? fields.nlink }),
      options.signal,
    );
    // Streamed: a part may be larger than a buffer can hold (2 GiB).
    await pipeline(createReadStream(part), createWriteStream(archive, { flags: "a" }));
    await rm(part);
  }
  if (tree.devices.length > 0) await appendFile(archive, newcDevices(tree.devices));

  if (options.compression === "none") {
    await copyFile(archive, output);
    return;
  }
  const [command, ...args] = INITRAMFS_COMPRESSORS[options.compression];
  await runCommand(command, args, {
    stdinFile: archive,
    stdoutFile: output,
    signal: options.signal,
    code: "ERR_IMAGE_TOOL_FAILED",
    what: `compressing the initramfs with ${options.compression}`,
  });
}
