/**
 * How a step's command is wrapped so that it sees only what it declared.
 *
 * - `bwrap`: bubblewrap, rootless. The root is an empty tmpfs onto which the root's top-level entries,
 *   the binds, a private /proc and /dev are mounted; it is then made read-only. No network (a private
 *   network namespace), private PID, IPC and UTS namespaces, and the whole sandbox dies with rootstock.
 * - `chroot`: root only. `unshare` makes private mount, PID, network, IPC and UTS namespaces; a shell
 *   script mounts the same layout under a root folder and `chroot`s into it.
 * - `host`: no isolation of files or network. The step still runs in a private PID namespace (bwrap
 *   with the host's `/` bound), only so that its whole process tree dies on timeout or with rootstock.
 *
 * This module only builds command lines; `prepareChrootRoot` is its one side effect.
 */
import { hostProgram } from "../host/tools.ts";
import type { SandboxKind } from "../plan/types.ts";

const { lstatSync, readlinkSync } = process.getBuiltinModule("node:fs");
const { mkdir, stat, symlink, writeFile } = process.getBuiltinModule("node:fs/promises");
const { dirname, join } = process.getBuiltinModule("node:path");

export interface Bind {
  /** Host path. */
  from: string;
  /** Absolute path inside the sandbox. */
  to: string;
  writable?: boolean;
}

/** A top-level entry of the sandbox's root: a folder or file mounted read-only, or a symbolic link. */
export interface RootEntry {
  name: string;
  from?: string;
  symlink?: string;
}

export interface SandboxSpec {
  kind: SandboxKind;
  /** Top-level entries of the root (ignored by `host`). */
  root: RootEntry[];
  /** Mounted after the root, in order (parents before children). Ignored by `host`. */
  binds: Bind[];
  env: Record<string, string>;
  /** Working folder, as the command sees it. */
  cwd: string;
  /** Where `chroot` assembles its root: an empty folder on the store's filesystem. */
  chrootDir?: string;
  /** Host folders a `host` step must not change (the store's entries and sources). */
  protect?: string[];
}

export interface SandboxCommand {
  file: string;
  args: string[];
  env: Record<string, string>;
}

/**
 * Runs the command with a lifeline: the sandbox inherits, as fd 3, one end of a socket pair whose other
 * end only rootstock holds. A watcher blocks reading it; when rootstock dies — even while the sandbox is
 * still being set up, before bwrap's own parent-death signal is armed — the read ends and the watcher
 * kills every process of the sandbox's PID namespace (`kill -1` never leaves it; PID 1, the sandbox's
 * init, then exits with its child). Every sandbox kind has a PID namespace of its own, so this is safe.
 */
export const LIFELINE = '(read _ <&3; kill -KILL -1) & exec 3<&-; exec "$@"';

/**
 * The lifeline of a held sandbox: set up, it says so on fd 4 and waits there for a line before it runs
 * the command, so that its set-up (namespaces, mounts: most of a short step's start) happens while
 * something else runs. Fd 5, if any, is a folder handed to bwrap to mount (/proc/self/fd/5). Neither
 * the command nor the watcher keeps fd 4 or 5: a folder's handle leads out of any sandbox. Until its
 * release its output is not the step's (a set-up that fails says why there); released, the command
 * writes to fd 6, the step's log.
 */
export const HELD_LIFELINE =
  '(exec 4<&- 5<&- 6>&- >/dev/null 2>&1; read _ <&3; kill -KILL -1) & exec 3<&- 5<&-; echo >&4; read _ <&4 || exit 1; exec 4<&- >&6 2>&6 6>&-; exec "$@"';

/** Where a sandbox sees the folder handed to it as fd 5 (see HELD_LIFELINE). */
export const HANDED_FOLDER = "/proc/self/fd/5";

export interface SandboxCommandOptions {
  /** A person at a terminal (`rootstock shell`): keep the controlling terminal. */
  interactive?: boolean;
  /** Wrap the command in the lifeline (fd 3 must be the sandbox's end of the lifeline). */
  lifeline?: boolean;
  /** With the lifeline: hold the command until released (fd 4 must be the sandbox's end of the gate). */
  held?: boolean;
  /** Whether rootstock runs as root (default: from process.getuid). */
  isRoot?: boolean;
}

/** Names of the root that the sandbox itself provides; a root entry of the same name is not mounted. */
export const RESERVED_ROOT_NAMES = new Set(["proc", "dev", "tmp", "build", "out", "deps", ".rootstock"]);

/** The host's tool folders as root entries: `/usr` and the `/bin`, `/sbin`, `/lib*` folders or links. */
export function hostRootEntries(hostRoot = "/"): RootEntry[] {
  const entries: RootEntry[] = [];
  for (const name of ["usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"]) {
    const path = join(hostRoot, name);
    try {
      const info = lstatSync(path);
      if (info.isSymbolicLink()) entries.push({ name, symlink: readlinkSync(path) });
      else if (info.isDirectory()) entries.push({ name, from: path });
    } catch {
      // Absent on this host.
    }
  }
  return entries;
}

/**
 * The few /etc files a host-rooted step gets from the host: the dynamic linker's configuration and
 * Debian's alternatives (where `cc` and friends point). Users and groups are rootstock's own.
 */
export const HOST_ETC_FILES = ["ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives"];

export function sandboxCommand(
  spec: SandboxSpec,
  command: readonly string[],
  options: SandboxCommandOptions = {},
): SandboxCommand {
  const isRoot = options.isRoot ?? process.getuid?.() === 0;
  if (options.lifeline) {
    command = ["/bin/sh", "-c", options.held ? HELD_LIFELINE : LIFELINE, "rootstock-lifeline", ...command];
  }
  switch (spec.kind) {
    case "bwrap":
      return { file: "bwrap", args: [...bwrapArgs(spec, isRoot, options), "--", ...command], env: spec.env };
    case "host":
      return {
        file: "bwrap",
        args: [
          "--dev-bind",
          "/",
          "/",
          ...(spec.protect ?? []).flatMap((path) => ["--ro-bind", path, path]),
          "--unshare-pid",
          "--proc",
          "/proc",
          "--die-with-parent",
          ...(options.interactive ? [] : ["--new-session"]),
          "--chdir",
          spec.cwd,
          "--",
          ...command,
        ],
        env: spec.env,
      };
    case "chroot":
      return chrootCommand(spec, command);
  }
}

function bwrapArgs(spec: SandboxSpec, isRoot: boolean, options: SandboxCommandOptions): string[] {
  const args = ["--unshare-all", "--die-with-parent", "--hostname", "rootstock"];
  // Unprivileged, the step is root in its own user namespace, as it would be in a chroot. As root, bwrap
  // would keep every capability, with which a step could remount its read-only binds writable (the
  // host's /usr, the store's sources, its deps' entries): it keeps none, as it would unprivileged.
  if (!isRoot) args.push("--unshare-user", "--uid", "0", "--gid", "0");
  else args.push("--cap-drop", "ALL");
  if (!options.interactive) args.push("--new-session");
  for (const entry of spec.root) {
    if (RESERVED_ROOT_NAMES.has(entry.name)) continue;
    if (entry.symlink !== undefined) args.push("--symlink", entry.symlink, `/${entry.name}`);
    else if (entry.from !== undefined) args.push("--ro-bind", entry.from, `/${entry.name}`);
  }
  args.push("--proc", "/proc", "--dev", "/dev");
  for (const bind of spec.binds) args.push(bind.writable ? "--bind" : "--ro-bind", bind.from, bind.to);
  args.push("--remount-ro", "/", "--chdir", spec.cwd);
  return args;
}

/** Where the chroot sandbox's setup finds the host's unshare, mount and chroot. */
export const CHROOT_SETUP_PATH = "/usr/sbin:/usr/bin:/sbin:/bin";

/** The mount script run by `unshare` for a chroot sandbox; $1 is the root folder. */
const CHROOT_SETUP = `set -e
# The step's PATH is for inside the root; the setup uses the host's tools.
step_path=$PATH
PATH=${CHROOT_SETUP_PATH}
chroot_bin=$(command -v chroot)
root=$1; shift
ro() { mount --bind "$1" "$root$2"; mount -o remount,bind,ro "$root$2"; }
rw() { mount --bind "$1" "$root$2"; }
hostname rootstock
# The private network namespace's loopback starts down; bwrap brings its own up, and so must this.
command -v ip > /dev/null || { echo "rootstock: a chroot sandbox needs ip (iproute2) to bring up its loopback" >&2; exit 127; }
ip link set lo up
mount --bind "$root" "$root"
while [ "$1" != "--" ]; do "$1" "$2" "$3"; shift 3; done; shift
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
mount -t tmpfs -o nosuid,mode=755 dev "$root/dev"
mknod -m 666 "$root/dev/null" c 1 3; mknod -m 666 "$root/dev/zero" c 1 5; mknod -m 666 "$root/dev/full" c 1 7
mknod -m 666 "$root/dev/random" c 1 8; mknod -m 666 "$root/dev/urandom" c 1 9; mknod -m 666 "$root/dev/tty" c 5 0
ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"; ln -s /proc/self/fd/1 "$root/dev/stdout"; ln -s /proc/self/fd/2 "$root/dev/stderr"
mount -o remount,bind,ro "$root"
cwd=$1; shift
PATH=$step_path
# PID 1 of the namespace must be inside the root: /proc/1/root of a PID 1 outside it is the host's /.
# The shell that chroot starts stays PID 1 and runs the step as its child (not exec), so that
# everything the step runs can be killed from inside it (PID 1 ignores signals sent from its own
# namespace).
exec "$chroot_bin" "$root" /bin/sh -c 'cd "$0" || exit 1; "$@"; exit $?' "$cwd" "$@"
`;

function chrootCommand(spec: SandboxSpec, command: readonly string[]): SandboxCommand {
  if (spec.chrootDir === undefined) throw new Error("a chroot sandbox needs chrootDir");
  const mounts: string[] = [];
  for (const entry of spec.root) {
    if (RESERVED_ROOT_NAMES.has(entry.name) || entry.from === undefined) continue;
    mounts.push("ro", entry.from, `/${entry.name}`);
  }
  for (const bind of spec.binds) mounts.push(bind.writable ? "rw" : "ro", bind.from, bind.to);
  return {
    // setpriv ties unshare's life to rootstock's; --kill-child ties the sandbox's to unshare's.
    file: "setpriv",
    args: [
      "--pdeathsig",
      "KILL",
      "--",
      // By its full path: setpriv would look for it on the step's PATH.
      hostProgram("unshare"),
      "--mount",
      "--pid",
      "--net",
      "--ipc",
      "--uts",
      "--fork",
      "--kill-child",
      "--",
      "/bin/sh",
      "-c",
      CHROOT_SETUP,
      "rootstock-chroot",
      spec.chrootDir,
      ...mounts,
      "--",
      spec.cwd,
      ...command,
    ],
    env: spec.env,
  };
}

/**
 * Creates the chroot's root folder: the root's symbolic links, and an empty mount point for every
 * mounted entry and bind.
 */
export async function prepareChrootRoot(spec: SandboxSpec): Promise<void> {
  const dir = spec.chrootDir;
  if (dir === undefined) return;
  await mkdir(dir, { recursive: true });
  for (const name of ["proc", "dev", "tmp"]) await mkdir(join(dir, name), { recursive: true });
  for (const entry of spec.root) {
    if (RESERVED_ROOT_NAMES.has(entry.name)) continue;
    const target = join(dir, entry.name);
    if (entry.symlink !== undefined) await symlink(entry.symlink, target).catch(ignoreExists);
    else if (entry.from !== undefined) await mountPoint(entry.from, target);
  }
  for (const bind of spec.binds) await mountPoint(bind.from, join(dir, bind.to));
}

async function mountPoint(from: string, target: string): Promise<void> {
  const isDir = (await stat(from)).isDirectory();
  if (isDir) await mkdir(target, { recursive: true });
  else {
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, "", { flag: "a" });
  }
}

function ignoreExists(error: NodeJS.ErrnoException): void {
  if (error.code !== "EEXIST") throw error;
}
