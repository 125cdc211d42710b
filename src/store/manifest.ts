/**
 * What a store entry holds, file by file, and one digest for the whole tree.
 *
 * The tree digest follows the Bazel Remote Execution API in spirit: every directory is serialised as a
 * sorted list of its children (name, kind, metadata, and the child's digest), and its digest is the
 * sha256 of that serialisation plus its length in bytes. The root directory's digest identifies the tree,
 * so two entries with equal digests hold equal files with equal metadata.
 *
 * Owners are recorded as images give them: what the builder's own uid and gid own is root's (0), so the
 * same tree has the same manifest and digest whoever built it (root, a CI user, a developer).
 */
import type { Stats } from "node:fs";
import { canonicalJson, createSha256, type Digest } from "../digest.ts";
import { RootstockError } from "../errors.ts";
import { monotonicMs } from "../units.ts";

const { chmodSync, closeSync, lstatSync, openSync, readdirSync, readFileSync, readlinkSync, readSync } =
  process.getBuiltinModule("node:fs");

export type EntryKind = "file" | "dir" | "symlink" | "char" | "block" | "fifo" | "socket";

export interface ManifestEntry {
  /** Relative to the tree's root, `/`-separated. */
  path: string;
  kind: EntryKind;
  /** Permission bits with setuid, setgid and sticky (`mode & 0o7777`). */
  mode: number;
  /** As in an image: the builder's own uid and gid are recorded as 0. */
  uid: number;
  gid: number;
  /** Regular files. */
  size?: number;
  sha256?: string;
  /** Symbolic links. */
  target?: string;
  /** Device nodes: [major, minor]. */
  device?: [number, number];
  /** A hard link to an earlier path of the same tree. */
  link?: string;
}

export interface Manifest {
  format: 1;
  /** The tree's root directory itself. */
  root: { mode: number; uid: number; gid: number };
  entries: ManifestEntry[];
  /** REAPI-style digest of the root directory (sha256 and size of its serialisation). */
  digest: Digest;
  files: number;
  /** Bytes of regular file content, hard links counted once. */
  bytes: number;
}

export interface ManifestOptions {
  signal?: AbortSignal;
  /**
   * The tree is the caller's to change (a commit's, default false): what its owner may not read (a step
   * may leave a folder or file mode 000, as /etc/shadow is on some systems) gets owner read permission,
   * and folders search permission, so that it can be hashed and later copied. The manifest keeps the
   * modes as they were.
   */
  grantOwnerAccess?: boolean;
}

const SMALL_FILE = 1 << 20;
const YIELD_MS = 20;

interface Node {
  entry: ManifestEntry;
  children?: Node[];
  digest?: Digest;
}

/**
 * Walks `dir` (never following links) and describes every entry below it. The file system calls are
 * synchronous — for thousands of small files, three to four times faster than through the thread pool —
 * and the walk yields to the event loop every few milliseconds, so other steps' timers and progress go on.
 */
export async function computeManifest(dir: string, options: ManifestOptions = {}): Promise<Manifest> {
  const rootInfo = lstatSync(dir);
  const uid = process.getuid?.();
  const gid = process.getgid?.();
  const owner = (info: Stats) => ({
    uid: info.uid === uid ? 0 : info.uid,
    gid: info.gid === gid ? 0 : info.gid,
  });
  const grant = (absolute: string, info: Stats, bits: number) => {
    // Root reads whatever the modes say; a file of another owner is left as it is, and reading it fails.
    if (!options.grantOwnerAccess || uid === 0 || info.uid !== uid || (info.mode & bits) === bits) return;
    chmodSync(absolute, (info.mode & 0o7777) | bits);
  };
  grant(dir, rootInfo, 0o500);
  const entries: ManifestEntry[] = [];
  const seenInodes = new Map<string, ManifestEntry>();
  let lastYield = monotonicMs();
  const maybeYield = async () => {
    if (monotonicMs() - lastYield < YIELD_MS) return;
    await new Promise((resolve) => setImmediate(resolve));
    options.signal?.throwIfAborted();
    lastYield = monotonicMs();
  };

  const walk = async (relativeDir: string): Promise<Node[]> => {
    options.signal?.throwIfAborted();
    const names = readdirSync(relativeDir === "" ? dir : `${dir}/${relativeDir}`).sort(compareNames);
    const nodes: Node[] = [];
    for (const name of names) {
      const path = relativeDir === "" ? name : `${relativeDir}/${name}`;
      if (name.includes("\n")) {
        throw new RootstockError(
          "ERR_STORE_BAD_NAME",
          `output file name ${JSON.stringify(path)} holds a line break, which the store refuses`,
          {
            hint: "rename the file in the step's install phase: the image tools (mke2fs, mksquashfs) take lists of one name a line, so such a file could never be put in an image",
          },
        );
      }
      if (name.includes("\uFFFD")) {
        throw new RootstockError(
          "ERR_STORE_BAD_NAME",
          `output file name ${JSON.stringify(path)} is not valid UTF-8 text`,
          {
            hint: "rename the file in the step's install phase; the store records names as UTF-8",
          },
        );
      }
      const absolute = `${dir}/${path}`;
      const info = lstatSync(absolute);
      const entry: ManifestEntry = {
        path,
        kind: kindOf(info),
        mode: info.mode & 0o7777,
        ...owner(info),
      };
      entries.push(entry);
      const node: Node = { entry };
      if (entry.kind === "dir") {
        grant(absolute, info, 0o500);
        node.children = await walk(path);
      } else if (entry.kind === "symlink") {
        entry.target = readlinkSync(absolute);
      } else if (entry.kind === "char" || entry.kind === "block") {
        entry.device = [deviceMajor(info.rdev), deviceMinor(info.rdev)];
      }
      if (entry.kind !== "dir" && info.nlink > 1) {
        const inode = `${info.dev}:${info.ino}`;
        const first = seenInodes.get(inode);
        if (first !== undefined) {
          entry.link = first.path;
          // One inode, one mode: the step's, not the read permission granted at its first path.
          entry.mode = first.mode;
        } else seenInodes.set(inode, entry);
      }
      if (entry.kind === "file") {
        entry.size = info.size;
        if (entry.link === undefined) {
          grant(absolute, info, 0o400);
          entry.sha256 = hashFile(absolute, info.size);
          await maybeYield();
        }
      }
      nodes.push(node);
    }
    return nodes;
  };

  const tree = await walk("");
  const byPath = new Map(entries.map((entry) => [entry.path, entry]));
  let files = 0;
  let bytes = 0;
  for (const entry of entries) {
    if (entry.kind !== "file") continue;
    files++;
    if (entry.link === undefined) bytes += entry.size ?? 0;
    else entry.sha256 = byPath.get(entry.link)?.sha256 as string;
  }
  const root = { mode: rootInfo.mode & 0o7777, ...owner(rootInfo) };
  return { format: 1, root, entries, digest: directoryDigest(root, tree), files, bytes };
}

/** The digest of a directory: its serialised children, each carrying its own digest. */
function directoryDigest(self: Manifest["root"], children: Node[]): Digest {
  const listed = children.map((node) => {
    const { entry } = node;
    const name = entry.path.slice(entry.path.lastIndexOf("/") + 1);
    const meta = { name, kind: entry.kind, mode: entry.mode, uid: entry.uid, gid: entry.gid };
    if (entry.kind === "dir") {
      node.digest = directoryDigest(entry, node.children ?? []);
      return { ...meta, digest: node.digest };
    }
    if (entry.kind === "file") return { ...meta, digest: { sha256: entry.sha256, size: entry.size } };
    if (entry.kind === "symlink") return { ...meta, target: entry.target };
    if (entry.device) return { ...meta, device: entry.device };
    return meta;
  });
  const serialised = Buffer.from(
    canonicalJson({ mode: self.mode, uid: self.uid, gid: self.gid, children: listed }),
  );
  return { sha256: createSha256().update(serialised).digest("hex"), size: serialised.length };
}

/** Byte order of the UTF-8 names, as REAPI asks (JavaScript's `<` compares UTF-16 units). */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function kindOf(info: Stats): EntryKind {
  if (info.isFile()) return "file";
  if (info.isDirectory()) return "dir";
  if (info.isSymbolicLink()) return "symlink";
  if (info.isCharacterDevice()) return "char";
  if (info.isBlockDevice()) return "block";
  if (info.isFIFO()) return "fifo";
  return "socket";
}

export function deviceMajor(rdev: number): number {
  return Number(((BigInt(rdev) >> 8n) & 0xfffn) | ((BigInt(rdev) >> 32n) & ~0xfffn));
}

export function deviceMinor(rdev: number): number {
  return Number((BigInt(rdev) & 0xffn) | ((BigInt(rdev) >> 12n) & ~0xffn));
}

function hashFile(path: string, size: number): string {
  const hash = createSha256();
  if (size <= SMALL_FILE) return hash.update(readFileSync(path)).digest("hex");
  const fd = openSync(path, "r");
  try {
    const buffer = Buffer.allocUnsafe(SMALL_FILE);
    for (;;) {
      const read = readSync(fd, buffer, 0, buffer.length, null);
      if (read === 0) break;
      hash.update(buffer.subarray(0, read));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}
