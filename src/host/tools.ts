/**
 * Finds host tools and pins down what they are: resolved path, sha256 of the binary and the version
 * line it prints. A step whose root includes the host's tools has these in its key, and the report
 * lists them as binary seeds.
 */
import { digestFile } from "../digest.ts";

const { spawn } = process.getBuiltinModule("node:child_process");
const { accessSync, constants, lstatSync, statSync } = process.getBuiltinModule("node:fs");
// Taken when first needed: a no-op run needs none of it, and loading it costs 2 ms.
const fsp = () => process.getBuiltinModule("node:fs/promises");
const { delimiter, join } = process.getBuiltinModule("node:path");

export interface ToolIdentity {
  name: string;
  /** Absolute path as found on PATH, and where its links lead. */
  path: string;
  realPath: string;
  sha256: string;
  size: number;
  /** First line the tool prints for --version (or -V, or nothing it recognises). */
  version: string;
}

/**
 * The PATH every step runs with: a step's declared tools are the ones found here, whatever PATH rootstock
 * itself was started with (a tool found earlier on that PATH is not the one the step runs).
 */
export const STEP_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";

/**
 * Where rootstock finds the host's own tools (mke2fs, QEMU): the PATH it was given, then the usual
 * folders, sbin ones included, which a non-root PATH may lack.
 */
export function hostPath(): string {
  const parts = (process.env.PATH ?? "").split(":").filter(Boolean);
  for (const extra of ["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/local/bin", "/usr/bin", "/bin"]) {
    if (!parts.includes(extra)) parts.push(extra);
  }
  return parts.join(":");
}

/** Synchronous: a few stats, cheaper without the thread pool, on every run's path. */
export async function findOnPath(
  name: string,
  searchPath = process.env.PATH ?? "",
): Promise<string | undefined> {
  if (name.includes("/")) return isExecutable(name) ? name : undefined;
  for (const dir of searchPath.split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Why a command is not found on a PATH although something of its name is there: a link that leads
 * nowhere, a folder, a file without its x bit. Undefined when nothing of the name is there.
 */
export function whyNotFound(name: string, searchPath: string): string | undefined {
  for (const dir of searchPath.split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, name);
    if (lstatSync(candidate, { throwIfNoEntry: false }) === undefined) continue;
    const target = statSyncQuiet(candidate);
    if (target === "loop") return `${candidate} is a link that leads round in a loop`;
    if (target === undefined) return `${candidate} is a link that leads nowhere`;
    if (target.isDirectory()) return `${candidate} is a folder`;
    if (!target.isFile()) return `${candidate} is not a regular file`;
    return `${candidate} is not executable (mode ${(target.mode & 0o777).toString(8).padStart(4, "0")})`;
  }
  return undefined;
}

/** A link's target: undefined when it leads nowhere, "loop" when round in a loop. */
function statSyncQuiet(path: string) {
  try {
    return statSync(path, { throwIfNoEntry: false });
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ELOOP" ? "loop" : undefined;
  }
}

const programs = new Map<string, string>();

/**
 * The host program rootstock runs itself (bwrap, setpriv) as an absolute path, found where doctor finds
 * it: spawned by its bare name with a step's environment, it would be looked for on the step's own PATH
 * (`/tools/bin` in a root of dependencies). Its name as given when it is nowhere: spawning it then fails
 * as a missing tool.
 */
export function hostProgram(name: string): string {
  let found = programs.get(name);
  if (found === undefined) {
    found = name;
    for (const dir of hostPath().split(delimiter)) {
      if (dir !== "" && isExecutable(join(dir, name))) {
        found = join(dir, name);
        break;
      }
    }
    programs.set(name, found);
  }
  return found;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

const TIMED_OUT = Symbol("timed out");
const VERSION_TIMEOUT_MS = 3000;
/** After the command exits, how long output may still come from what it left behind. */
const AFTER_EXIT_MS = 100;

/** Process groups of version queries still running: rootstock ending (Ctrl-C too) takes them along. */
const queries = new Set<number>();
let reaping = false;
const killGroup = (pid: number) => {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // Gone already.
  }
};

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
let watching = false;

/**
 * Ctrl-C while a query runs: no "exit" event comes when the signal's default ends rootstock, so the
 * queries' groups are killed here. Where nothing else listens, the signal is then given its default
 * again (rootstock ends, as it would have); a command that handles it goes on as it does.
 */
function onSignal(signal: NodeJS.Signals): void {
  for (const pid of queries) killGroup(pid);
  if (process.listenerCount(signal) > 1) return;
  unwatchSignals();
  process.kill(process.pid, signal);
}

function watchSignals(): void {
  if (watching) return;
  watching = true;
  for (const signal of SIGNALS) process.on(signal, onSignal);
}

function unwatchSignals(): void {
  if (!watching) return;
  watching = false;
  for (const signal of SIGNALS) process.off(signal, onSignal);
}

/**
 * The first line a command prints. It runs in a process group of its own, all of which is killed when
 * it is done or takes too long: a child it leaves behind (a script's `sleep`) would hold the output open
 * forever, and outlive rootstock (a group of its own is out of reach of the terminal's Ctrl-C).
 */
function firstLine(command: string, args: string[]): Promise<string | undefined | typeof TIMED_OUT> {
  if (!reaping) {
    reaping = true;
    process.once("exit", () => {
      for (const pid of queries) killGroup(pid);
    });
  }
  watchSignals();
  return new Promise((resolve, reject) => {
    // stdin closed: a shell given an unknown flag would otherwise wait for commands on it.
    const child = spawn(command, args, {
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
      env: { ...process.env, LC_ALL: "C" },
    });
    const pid = child.pid;
    if (pid !== undefined) queries.add(pid);
    let output = "";
    let settled = false;
    const settle = (result: string | undefined | typeof TIMED_OUT) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (pid !== undefined) {
        killGroup(pid);
        queries.delete(pid);
      }
      // The watch stays: removing the last listener could drop a Ctrl-C that came meanwhile, caught by
      // Node but not yet handed to a listener. With no query left, onSignal only gives it its default.
      // Without them when the spawn itself failed (no file descriptors left).
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve(result);
    };
    const firstOf = () => output.trim().split("\n")[0]?.trim() || undefined;
    const timer = setTimeout(() => settle(TIMED_OUT), VERSION_TIMEOUT_MS);
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on("error", (error: NodeJS.ErrnoException) => {
      // A limit of this process (ulimit -n, -u) is no answer of the tool's: its identity would be
      // remembered without its version.
      if (error.code === "EMFILE" || error.code === "ENFILE" || error.code === "EAGAIN") {
        reject(error);
        settle(undefined);
      } else settle(undefined);
    });
    // Its output is what it printed: a child it left in the background may hold the pipe open.
    child.on("exit", () => setTimeout(() => settle(firstOf()), AFTER_EXIT_MS));
    child.on("close", () => settle(firstOf()));
  });
}

/** Version line by the usual flags; dash and friends have none, so their hash is their identity. */
async function versionOf(path: string): Promise<string> {
  // `-W version` is mawk's; --help is asked last, for tools such as busybox that print their version only there.
  // -version is squashfs-tools' (their --version prints a usage text beginning "SYNTAX:").
  for (const flags of [["--version"], ["-V"], ["-W", "version"], ["-version"], ["--help"]]) {
    const line = await firstLine(path, flags);
    // One that hangs on asking is not asked again: its hash is its identity.
    if (line === TIMED_OUT) return "unknown";
    if (
      !line ||
      /(illegal|invalid|unknown|unrecognized|not an) option|not found|usage|syntax|error/i.test(line)
    )
      continue;
    if (flags[0] !== "--help" || /\d+\.\d+/.test(line)) return line;
  }
  return "unknown";
}

const cache = new Map<string, Promise<ToolIdentity | undefined>>();

export function identifyTool(
  name: string,
  searchPath = process.env.PATH ?? "",
): Promise<ToolIdentity | undefined> {
  const cacheKey = `${searchPath}\0${name}`;
  let pending = cache.get(cacheKey);
  if (!pending) {
    pending = (async () => {
      const path = await findOnPath(name, searchPath);
      if (path === undefined) return undefined;
      const real = await fsp().realpath(path);
      const [digest, version] = await Promise.all([digestFile(real), versionOf(path)]);
      return { name, path, realPath: real, sha256: digest.sha256, size: digest.size, version };
    })();
    cache.set(cacheKey, pending);
  }
  return pending;
}

/** The string that goes into step keys for a tool. */
export function toolKey(identity: ToolIdentity | undefined): string {
  return identity === undefined ? "missing" : `${identity.realPath} sha256:${identity.sha256}`;
}

/** Host tools as the steps find them (STEP_PATH), or as `searchPath` finds them. */
export async function identifyTools(
  names: Iterable<string>,
  searchPath = STEP_PATH,
): Promise<Map<string, ToolIdentity | undefined>> {
  const unique = [...new Set(names)];
  const identities = await Promise.all(unique.map((name) => identifyTool(name, searchPath)));
  return new Map(unique.map((name, index) => [name, identities[index]]));
}

/*
 * The host tools rootstock runs itself: tar and patch on a step's sources, bwrap around it, mke2fs or
 * cpio on an image, QEMU. No step's key names them (it names the tools the step runs; an image's key
 * names its writers), so a run's report names each one the run used, found as it was found when it ran.
 */

/** Each tool and PATH, with the count of uses when it was last run. */
const lastUse = new Map<string, { name: string; searchPath: string; use: number }>();
let uses = 0;

/** Records that rootstock ran `name`, looked up on `searchPath`. */
export function noteToolUse(name: string, searchPath: string): void {
  uses += 1;
  lastUse.set(`${searchPath}\0${name}`, { name, searchPath, use: uses });
}

/** A mark to give toolsUsedSince: the tools run after it are a run's own. */
export function toolUseMark(): number {
  return uses;
}

export function toolsUsedSince(mark: number): { name: string; searchPath: string }[] {
  return [...lastUse.values()]
    .filter((entry) => entry.use > mark)
    .map(({ name, searchPath }) => ({ name, searchPath }))
    .sort((a, b) => a.name.localeCompare(b.name));
}
