/**
 * The file system refusing a read or a write, told as what it is: the state of the store or of a path
 * the user gave (a store they cannot write, a full disk, a read-only --out folder, a plan file of mode
 * 000), not a bug in rootstock.
 */
import { RootstockError } from "../errors.ts";
import { foreignOwner, userName } from "./owner.ts";

/** System calls that only read: their refusal is about reading, whatever the path. */
const READING = new Set(["read", "scandir", "opendir", "stat", "lstat", "access", "readlink", "realpath"]);

const REFUSALS: Record<string, string> = {
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "the file system is read-only",
  ENOTDIR: "a part of its path is not a folder",
  ENAMETOOLONG: "a name in it is longer than 255 bytes, or the whole longer than 4096",
  ENOSPC: "no space is left on the device",
  EDQUOT: "the disk quota is exceeded",
  // A file system without Unix modes, links or owners (FAT, some FUSE mounts).
  ENOSYS: "the file system cannot do it",
  EOPNOTSUPP: "the file system cannot do it",
  ENOTSUP: "the file system cannot do it",
};

/** Codes that say the file system lacks what rootstock needs, rather than that it refused this user. */
const UNSUPPORTED = new Set(["ENOSYS", "EOPNOTSUPP", "ENOTSUP"]);

/**
 * A limit of this process met (`ulimit -n`, `-u`, `-f`), told with the limit and how to raise it: the
 * error is the host's setting, not the store's state or a bug.
 */
export function hostLimitRefusal(error: unknown): RootstockError | undefined {
  const { code, syscall, path: source, dest } = (error ?? {}) as NodeJS.ErrnoException & { dest?: string };
  // A copy grows its destination; Node names the source as the error's path.
  const path = code === "EFBIG" && dest !== undefined ? dest : source;
  const what = syscall?.startsWith("spawn")
    ? ` (starting ${path ?? syscall.slice(6)})`
    : typeof path === "string"
      ? ` (${syscall ?? "at"} ${path})`
      : syscall
        ? ` (${syscall})`
        : "";
  const limit = (name: string) => {
    const line = readLimits().find((row) => row.startsWith(name));
    const value = line?.slice(26).trim().split(/\s+/)[0];
    return value === undefined ? "" : `, now ${value}`;
  };
  if (code === "EMFILE")
    return new RootstockError(
      "ERR_HOST_LIMIT",
      `too many open files: rootstock reached this process's limit of open files (\`ulimit -n\`${limit("Max open files")})${what}`,
      {
        hint: "raise it (`ulimit -n 4096`, or LimitNOFILE= for a service), or run fewer steps at once (-j)",
        cause: error,
      },
    );
  if (code === "ENFILE")
    return new RootstockError("ERR_HOST_LIMIT", `the system's table of open files is full${what}`, {
      hint: "close programs that hold many files, or raise fs.file-max (sysctl)",
      cause: error,
    });
  if (code === "EAGAIN" && syscall?.startsWith("spawn"))
    return new RootstockError(
      "ERR_HOST_LIMIT",
      `cannot start another process: this user's limit of processes is reached (\`ulimit -u\`${limit("Max processes")})${what}`,
      {
        hint: "raise it (`ulimit -u`, or TasksMax= for a service), or run fewer steps at once (-j)",
        cause: error,
      },
    );
  if (code === "EFBIG")
    return new RootstockError(
      "ERR_HOST_LIMIT",
      `a file grew past this process's file-size limit (\`ulimit -f\`${limit("Max file size")}${limit("Max file size") ? " bytes" : ""})${what}`,
      { hint: "raise it (`ulimit -f unlimited`)", cause: error },
    );
  return undefined;
}

const TOO_LONG = "give a shorter path: each name in it at most 255 bytes";

/** For ENOTDIR: which part of the path is a file where a folder must be. */
function fileOnTheWay(path: string): string | undefined {
  const { statSync } = process.getBuiltinModule("node:fs");
  const { dirname } = process.getBuiltinModule("node:path");
  for (let part = dirname(path); part !== dirname(part); part = dirname(part)) {
    try {
      if (!statSync(part).isDirectory())
        return `${part} is a file, where the path needs a folder: check the path`;
    } catch {
      // Not there, or itself below a file: the part above says.
    }
  }
  return undefined;
}

function readLimits(): string[] {
  try {
    return process.getBuiltinModule("node:fs").readFileSync("/proc/self/limits", "utf8").split("\n");
  } catch {
    return [];
  }
}

/** Any command can meet it first; undefined when the error is no such refusal. */
export function fileSystemRefusal(
  error: unknown,
  storeDir: string | undefined,
  /** The caller only read (an open() in the store is otherwise taken for a write). */
  reading = false,
): RootstockError | undefined {
  const limited = hostLimitRefusal(error);
  if (limited) return limited;
  const {
    code: given,
    path: source,
    syscall,
    dest,
  } = (error ?? {}) as NodeJS.ErrnoException & { dest?: string };
  // A copy that cannot write failed at its destination; Node names the source as the error's path.
  const path =
    dest !== undefined &&
    (given === "ENOSPC" || given === "EDQUOT" || given === "EROFS" || UNSUPPORTED.has(given ?? ""))
      ? dest
      : source;
  const code =
    given === "ENOENT" && syscall === "mkdir" && typeof path === "string" ? mkdirCause(path) : given;
  // A folder to make where a file is: the store's own layout taken by something else.
  const reason =
    code === "EEXIST" && syscall === "mkdir"
      ? "a file is where a folder must be"
      : code === undefined
        ? undefined
        : REFUSALS[code];
  if (reason === undefined) return undefined;
  const full = code === "ENOSPC" || code === "EDQUOT";
  // A write to an open file names no path: a full or read-only disk is, most likely, the store's.
  if (typeof path !== "string") {
    if (!full && code !== "EROFS") return undefined;
    return new RootstockError(
      "ERR_STORE_UNWRITABLE",
      `cannot write${storeDir === undefined ? "" : ` the store ${storeDir}`}: ${reason}`,
      { hint: full ? FREE_SPACE : WRITABLE_STORE, cause: error },
    );
  }
  // A program that may not be run (a file without its x bit, on a noexec mount) is no write refused.
  if (syscall?.startsWith("spawn") && typeof path === "string") {
    return new RootstockError("ERR_PROGRAM_NOT_RUNNABLE", `cannot run ${path}: ${reason}`, {
      hint: `${path} as PATH finds it must be an executable program; \`rootstock doctor\` checks the host's tools`,
      cause: error,
    });
  }
  // open() reads or writes; the store is only written, a plan or a given path may be either.
  // An ancestor of a store yet to be made (its mkdir refused) is the store's refusal too.
  const inStore =
    storeDir !== undefined &&
    (path === storeDir || path.startsWith(`${storeDir}/`) || storeDir.startsWith(`${path}/`));
  if (syscall !== undefined && (READING.has(syscall) || (syscall === "open" && (reading || !inStore)))) {
    return new RootstockError(
      "ERR_PATH_UNREADABLE",
      `cannot ${syscall === "open" ? "open" : "read"} ${path}: ${reason}`,
      {
        hint:
          (code === "ENOTDIR" ? fileOnTheWay(path) : undefined) ??
          (code === "ENAMETOOLONG" ? TOO_LONG : undefined) ??
          (inStore && code === "EACCES" ? othersFolder(path, storeDir) : undefined) ??
          "check its permissions, and its folders' (read, and search for folders)",
        cause: error,
      },
    );
  }
  const unsupported = code !== undefined && UNSUPPORTED.has(code);
  if (!inStore) {
    return new RootstockError(
      "ERR_PATH_UNWRITABLE",
      `cannot write ${path}: ${reason}${unsupported ? ` (${syscall})` : ""}`,
      {
        hint: full
          ? "free space on that disk, or give a path on another"
          : code === "ENAMETOOLONG"
            ? TOO_LONG
            : unsupported
              ? "give a path on a file system with Unix modes and links (ext4, xfs, btrfs, tmpfs; not FAT)"
              : "give a path you can write",
        cause: error,
      },
    );
  }
  const at = path === storeDir ? "" : ` (at ${path})`;
  return new RootstockError(
    "ERR_STORE_UNWRITABLE",
    `cannot write the store ${storeDir}: ${reason}${unsupported ? ` (${syscall})` : ""}${at}`,
    {
      hint: full
        ? FREE_SPACE
        : unsupported
          ? "a store needs a file system with Unix modes, owners and links (ext4, xfs, btrfs, tmpfs; not FAT): choose another with --store DIR or $ROOTSTOCK_STORE"
          : code === "EROFS"
            ? READ_ONLY_STORE
            : code === "EACCES" || code === "EPERM"
              ? (othersFolder(path, storeDir as string) ?? WRITABLE_STORE)
              : WRITABLE_STORE,
      cause: error,
    },
  );
}

/** A folder of the store that another user's run made (root's, most often) is why it cannot be written. */
function othersFolder(path: string, storeDir: string): string | undefined {
  const owner = foreignOwner(path);
  if (!owner) return undefined;
  const me = userName(process.getuid?.() ?? 0);
  // No store to hand over: where it would be made is not the user's (a service user's HOME=/nonexistent).
  const { existsSync } = process.getBuiltinModule("node:fs");
  if (!existsSync(storeDir)) {
    const home = process.env.HOME;
    const homeless =
      home && storeDir.startsWith(`${home}/`) && !existsSync(home)
        ? ` (it is under your home folder ${home}, which does not exist)`
        : "";
    return `the store does not exist, and ${owner.path}, where it would be made, belongs to ${owner.name}${homeless}: choose a store you can make with --store DIR or $ROOTSTOCK_STORE`;
  }
  return `${owner.path} belongs to ${owner.name}, not to ${me}. Run as ${owner.name}, or have root hand the store to you (\`chown -R ${me} ${storeDir}\`), or use a store of your own (--store DIR)`;
}

/**
 * The names in a folder of the store; none when it does not exist. Any other failure is told as what it
 * is: a folder that cannot be read is no empty one (gc would take "no runs" for "nothing is used").
 */
export async function listFolder(path: string, storeDir?: string): Promise<string[]> {
  const { readdir } = process.getBuiltinModule("node:fs/promises");
  try {
    return await readdir(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw fileSystemRefusal(error, storeDir) ?? error;
  }
}

/**
 * A rename between a store's folders that crossed file systems, told as the store's layout: the folder
 * on another file system than `home` (a mount, or a link to elsewhere) is named. Any other error is
 * passed on as it is.
 */
export function crossDeviceRefusal(
  error: unknown,
  rename: { from: string; to: string; what: string },
  /** `names`: the folders of the store's layout, as the hint shows them ("work/, tmp/, outputs/"). */
  layout: { home: string; folders: readonly string[]; names: string; hint?: string },
): unknown {
  if ((error as NodeJS.ErrnoException).code !== "EXDEV") return error;
  const { statSync } = process.getBuiltinModule("node:fs");
  const device = (path: string) => statSync(path, { throwIfNoEntry: false })?.dev;
  const home = device(layout.home);
  const apart = layout.folders.find((path) => {
    const dev = device(path);
    return dev !== undefined && dev !== home;
  });
  return new RootstockError(
    "ERR_STORE_CROSS_DEVICE",
    `${rename.from} and ${rename.to} are on different file systems, so ${rename.what} cannot be renamed into the store`,
    {
      hint: `the store's folders (${layout.names}) must share its file system${apart ? `: ${apart} is on another (a mount, or a link to elsewhere)` : ""}${layout.hint ? `; ${layout.hint}` : ""}`,
      cause: error,
    },
  );
}

/** Plain gc keeps what recent runs used, a failed step's build folder too: this removes all no run holds. */
export const FREE_SPACE =
  "free space: `rootstock gc --keep-runs 0 --keep-days 0` removes everything no running build holds; or choose another store with --store DIR or $ROOTSTOCK_STORE";
const READ_ONLY_STORE =
  "the store is on a read-only file system: remount it read-write, or choose another store with --store DIR or $ROOTSTOCK_STORE";
const WRITABLE_STORE =
  "the store must be a folder you can write; choose one with --store DIR or $ROOTSTOCK_STORE";

/**
 * Node's recursive mkdir says ENOENT on a read-only disk (or under a folder it may not write): what the
 * nearest folder that exists answers to a write is the true cause.
 */
function mkdirCause(path: string): string {
  const { accessSync, constants, statSync } = process.getBuiltinModule("node:fs");
  const { dirname } = process.getBuiltinModule("node:path");
  let folder = dirname(path);
  while (folder !== dirname(folder) && statSync(folder, { throwIfNoEntry: false }) === undefined)
    folder = dirname(folder);
  try {
    accessSync(folder, constants.W_OK);
    return "ENOENT";
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? "ENOENT";
  }
}
