/**
 * Removes a tree rootstock made (a work folder, a staged or evicted entry), whatever modes a build left
 * in it: a step may `chmod 000` folders of its own, which only their owner may then open again.
 */
import { describeCause, RootstockError } from "../errors.ts";
import { hostLimitRefusal } from "./fs-refusal.ts";

const { statSync } = process.getBuiltinModule("node:fs");
const { join } = process.getBuiltinModule("node:path");
// Taken when first needed, as in output-store.ts: loading it costs a no-op run 2 ms.
const fsp = () => process.getBuiltinModule("node:fs/promises");

export async function removeTree(path: string): Promise<void> {
  const { rm } = fsp();
  let first: unknown;
  try {
    await rm(path, { recursive: true, force: true });
    return;
  } catch (thrown) {
    const error = await trueCause(thrown);
    const code = (error as NodeJS.ErrnoException).code;
    // Paths deeper than Linux takes whole: GNU rm walks the tree a folder at a time.
    if (code === "ENAMETOOLONG") return removeDeepTree(path, error);
    if (code !== "EACCES" && code !== "EPERM") throw cannotRemove(path, error);
    first = error;
  }
  await openFolders(path);
  try {
    await rm(path, { recursive: true, force: true });
  } catch (error) {
    throw cannotRemove(path, await trueCause(error, first));
  }
}

/**
 * Node's recursive rm, refused the unlink of a file (EPERM: immutable), tries it as a folder and throws
 * that try's ENOTDIR: the file's own refusal is the cause to tell.
 */
async function trueCause(error: unknown, fallback?: unknown): Promise<unknown> {
  const { code, syscall, path } = error as NodeJS.ErrnoException;
  if (code !== "ENOTDIR" || syscall !== "scandir" || typeof path !== "string") return error;
  try {
    await fsp().unlink(path);
  } catch (refusal) {
    return refusal;
  }
  return fallback ?? error;
}

async function removeDeepTree(path: string, cause: unknown): Promise<void> {
  const { execFile } = process.getBuiltinModule("node:child_process");
  await new Promise<void>((resolve, reject) =>
    execFile("rm", ["-rf", "--one-file-system", "--", path], (error) =>
      error ? reject(cannotRemove(path, cause)) : resolve(),
    ),
  );
}

/**
 * Gives the owner full permission on every folder of a tree (its entries can then be removed, or a
 * shell can enter a kept build that shut its own folders).
 */
export async function openFolders(dir: string): Promise<void> {
  const { chmod, lstat, readdir } = fsp();
  const info = await lstat(dir).catch(() => undefined);
  if (!info?.isDirectory()) return;
  // Another user's folder stays shut: removing it then fails, and says where.
  if ((info.mode & 0o700) !== 0o700) await chmod(dir, (info.mode & 0o7777) | 0o700).catch(() => {});
  const children = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const child of children) if (child.isDirectory()) await openFolders(join(dir, child.name));
}

function cannotRemove(path: string, error: unknown): RootstockError {
  // A limit of this process (no file descriptors left) is no state of the folder's.
  const limited = hostLimitRefusal(error);
  if (limited) return limited;
  const readOnly = (error as NodeJS.ErrnoException)?.code === "EROFS";
  const uid = process.getuid?.();
  const owner = statSync(path, { throwIfNoEntry: false })?.uid;
  // Only the owner (or root) can open another's folders: that hint is for them.
  const notOwner = uid !== undefined && uid !== 0 && owner !== undefined && owner !== uid;
  return new RootstockError("ERR_STORE_REMOVE_FAILED", `cannot remove ${path}: ${describeCause(error)}`, {
    hint: readOnly
      ? "the store is on a read-only file system: nothing can be removed until it is mounted read-write"
      : notOwner
        ? `it belongs to another user (uid ${owner}); run gc as the user who owns the store, or as root`
        : (error as NodeJS.ErrnoException)?.code === "EPERM" && uid === 0
          ? "even root may not: a file in it is marked immutable or append-only (`lsattr -R` shows i or a; `chattr -i -a` clears them), or it holds a mount point"
          : "rootstock gave its owner full permission on every folder in it and still could not: it may hold files of another user, or a mount point; remove it by hand (as root if need be)",
    cause: error,
  });
}
