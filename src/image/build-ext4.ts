/**
 * An ext4 disk image made by `mke2fs -d` (no root, no loop device), then adjusted with debugfs where the
 * image must differ from the staged files: owners, and device nodes. UUID and hash seed follow from the
 * key and the clock is fixed, so the same inputs give the same bytes. e2fsck checks the result.
 */
import { RootstockError } from "../errors.ts";
import { runCommand } from "../host/run-command.ts";
import { formatBytes } from "../units.ts";
import { uuidFromKey } from "./image-key.ts";
import { IMAGE_TIME, type StagedTree } from "./stage-tree.ts";

const { writeFile } = process.getBuiltinModule("node:fs/promises");
const { dirname, join, posix } = process.getBuiltinModule("node:path");
const { statfsSync } = process.getBuiltinModule("node:fs");

export interface Ext4Options {
  /** Image name for messages. */
  name: string;
  key: string;
  sizeBytes?: number;
  label?: string;
  scratch: string;
  signal?: AbortSignal;
}

const BLOCK = 4096;
const MIB = 1024 * 1024;
// e2fsprogs reads 0 as "no fake time"; 1 is the nearest fixed time.
const E2FSPROGS_ENV = { E2FSPROGS_FAKE_TIME: "1" };

/** Content rounded to blocks, plus room for metadata, a journal and some free space for the guest. */
export function ext4Size(tree: Pick<StagedTree, "entries">): number {
  let blocks = 0;
  for (const entry of tree.entries) {
    if (entry.kind === "file") blocks += Math.ceil(entry.size / BLOCK);
    else if (entry.kind === "dir") blocks += 1;
  }
  const bytes = blocks * BLOCK * 1.2 + tree.entries.length * 512 + 24 * MIB;
  return Math.max(32 * MIB, Math.ceil(bytes / MIB) * MIB);
}

/** One inode per 16 KiB of disk, as mke2fs gives by default; more when the contents need them. */
const BYTES_PER_INODE = 16 * 1024;

/** Room for the contents' entries, and for the guest's own files in proportion to the disk's size. */
export function ext4Inodes(tree: Pick<StagedTree, "entries" | "devices">, sizeBytes: number): number {
  const count = tree.entries.length + tree.devices.length;
  return Math.max(Math.ceil(count * 1.25) + 256, Math.floor(sizeBytes / BYTES_PER_INODE));
}

function freeBytes(file: string): number {
  try {
    const info = statfsSync(dirname(file));
    return info.bavail * info.bsize;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

export async function buildExt4(tree: StagedTree, output: string, options: Ext4Options): Promise<void> {
  // debugfs, which sets every entry's owner and times by name, ends a request at a carriage return.
  const unreadable = [...tree.entries, ...tree.devices].find((entry) => entry.path.includes("\r"));
  if (unreadable)
    throw new RootstockError(
      "ERR_IMAGE_UNSUPPORTED_FILE",
      `image ${options.name}: its contents hold the file name ${JSON.stringify(`/${unreadable.path}`)}, with a carriage return (\\r), which debugfs cannot read in a name, so an ext4 image cannot carry it`,
      {
        hint: "rename the file where it comes from, the step that makes it or the plan's files folder (a squashfs or initramfs image can carry the name)",
      },
    );
  const size = options.sizeBytes ?? ext4Size(tree);
  const uuid = uuidFromKey(options.key, 0);
  const args = [
    "-q",
    "-F",
    "-t",
    "ext4",
    "-b",
    String(BLOCK),
    "-m",
    "0",
    "-N",
    String(ext4Inodes(tree, size)),
    "-U",
    uuid,
    "-E",
    `hash_seed=${uuidFromKey(options.key, 1)},root_owner=0:0`,
    ...(options.label === undefined ? [] : ["-L", options.label]),
    "-d",
    tree.root,
    output,
    `${Math.floor(size / 1024)}k`,
  ];
  try {
    await runCommand("mke2fs", args, {
      env: E2FSPROGS_ENV,
      signal: options.signal,
      code: "ERR_IMAGE_TOOL_FAILED",
      what: `making the ext4 image ${options.name}`,
    });
  } catch (error) {
    // The store's own disk full (the image file could not grow to its size): said as a full store by
    // the caller, not as an image too small.
    if (
      error instanceof RootstockError &&
      /No space left on device/.test(error.message) &&
      freeBytes(output) < size
    )
      throw error;
    if (
      error instanceof RootstockError &&
      // "invalid blocks": a size under one block (1K rounds to none).
      /allocate|No space left|Not enough space|too small|too big|Could not|invalid blocks/i.test(
        error.message,
      )
    ) {
      throw new RootstockError(
        "ERR_IMAGE_TOO_SMALL",
        `image ${options.name}: ${formatBytes(size)} is too small for ${tree.entries.length} entries holding ${formatBytes(tree.contentBytes)}`,
        {
          hint:
            options.sizeBytes === undefined
              ? "this is a bug in the size estimate; set size in the image's table meanwhile"
              : `raise size (rootstock's own estimate for these contents, with room to spare, is ${Math.ceil(ext4Size(tree) / MIB)}M), or remove it to let rootstock choose`,
          cause: error,
        },
      );
    }
    throw error;
  }

  const script = debugfsScript(tree);
  const file = join(options.scratch, "debugfs.script");
  await writeFile(file, `${script.join("\n")}\n`);
  const result = await runCommand("debugfs", ["-w", "-f", file, output], {
    env: E2FSPROGS_ENV,
    signal: options.signal,
    code: "ERR_IMAGE_TOOL_FAILED",
    what: `setting owners, device nodes and times in ${options.name}`,
  });
  // debugfs reports a failed request on stderr and still exits 0.
  const problems = result.stderr
    .split("\n")
    .filter((line) => line.trim() !== "" && !/^debugfs \d/.test(line) && !/^Allocated inode/.test(line));
  if (problems.length > 0) {
    throw new RootstockError(
      "ERR_IMAGE_TOOL_FAILED",
      `debugfs could not adjust ${options.name}:\n${problems.slice(0, 12).join("\n")}`,
    );
  }
  await runCommand("e2fsck", ["-f", "-n", output], {
    env: E2FSPROGS_ENV,
    signal: options.signal,
    code: "ERR_IMAGE_TOOL_FAILED",
    what: `checking the ext4 image ${options.name}`,
  });
}

const FILE_TYPE = { dir: 0o040000, file: 0o100000, symlink: 0o120000 } as const;

/**
 * debugfs requests for what mke2fs copied differently from the image's wishes: owners (mke2fs copies the
 * staged copy's, and makes the root 0:0), modes a rootless build opened on the staged copy, device nodes, and every inode's change time, which mke2fs
 * copies from the staged file (the time it was staged; no process can set it) whatever
 * E2FSPROGS_FAKE_TIME says.
 */
export function debugfsScript(tree: Pick<StagedTree, "entries" | "devices">): string[] {
  const lines: string[] = [];
  for (const entry of tree.entries) {
    const absolute = quote(entry.path === "." ? "/" : `/${entry.path}`);
    const copied = entry.path === "." ? { uid: 0, gid: 0 } : { uid: entry.diskUid, gid: entry.diskGid };
    if (entry.uid !== copied.uid) lines.push(`sif ${absolute} uid ${entry.uid}`);
    if (entry.gid !== copied.gid) lines.push(`sif ${absolute} gid ${entry.gid}`);
    if (entry.mode !== entry.diskMode)
      lines.push(`sif ${absolute} mode 0${(FILE_TYPE[entry.kind] | entry.mode).toString(8)}`);
    lines.push(`sif ${absolute} ctime ${IMAGE_TIME}`, `sif ${absolute} atime ${IMAGE_TIME}`);
  }
  for (const device of tree.devices) {
    const parent = `/${posix.dirname(device.path)}`.replace(/^\/\.$/, "/");
    const name = quote(posix.basename(device.path));
    const type = device.type === "char" ? 0o020000 : 0o060000;
    // debugfs's mknod takes numbers up to 65535; a larger minor (they have 20 bits) is written in the
    // inode's new-style encoding, as the kernel's ext4 stores it.
    const large = device.minor > 0xffff;
    lines.push(
      `cd ${quote(parent)}`,
      `mknod ${name} ${device.type === "char" ? "c" : "b"} ${device.major} ${large ? 0 : device.minor}`,
      ...(large
        ? [`sif ${name} block[0] 0`, `sif ${name} block[1] 0x${newDeviceNumber(device).toString(16)}`]
        : []),
      `sif ${name} mode 0${(type | device.mode).toString(8)}`,
      `sif ${name} uid ${device.uid}`,
      `sif ${name} gid ${device.gid}`,
      ...["ctime", "atime", "mtime"].map((field) => `sif ${name} ${field} @${IMAGE_TIME}`),
      "cd /",
    );
  }
  // mke2fs records how much it wrote, which is more where the store's file system cannot punch holes
  // (ramfs); debugfs adds its own writes only to a count that is not 0.
  lines.push("ssv kbytes_written 0");
  return lines;
}

/** Linux's new_encode_dev, which ext4 keeps in i_block[1] when a number does not fit a byte. */
function newDeviceNumber({ major, minor }: { major: number; minor: number }): number {
  // Arithmetic, not bit operators: the result may need all 32 bits.
  return (minor & 0xff) + major * 0x100 + (minor - (minor & 0xff)) * 0x1000;
}

/** A name as debugfs reads it: in double quotes, a quote doubled; a backslash is plain. */
function quote(path: string): string {
  // Staging refuses names with a newline; one here is a bug.
  if (path.includes("\n")) throw new Error(`a name with a newline reached debugfs: ${JSON.stringify(path)}`);
  return `"${path.replaceAll('"', '""')}"`;
}
