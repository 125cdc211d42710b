/**
 * Runs a command in a sandbox with its output going straight to a log file, or sets a sandbox up and
 * holds it until released, and stops it — its whole process tree — on timeout or abort. Every sandbox
 * kind runs in its own PID namespace inside its own process group, so killing the group's leader takes
 * the namespace, and everything in it, down; and a lifeline (see sandbox.ts) takes it down when
 * rootstock itself dies, however early.
 */
import type { Writable } from "node:stream";
import { RootstockError } from "../errors.ts";
import { hostPath, hostProgram, noteToolUse } from "../host/tools.ts";
import { monotonicMs } from "../units.ts";
import { killTree, processTree, waitForExit } from "./process-tree.ts";
import { CHROOT_SETUP_PATH, prepareChrootRoot, type SandboxSpec, sandboxCommand } from "./sandbox.ts";

const { spawn } = process.getBuiltinModule("node:child_process");
const { readFileSync } = process.getBuiltinModule("node:fs");

export interface SandboxRunOptions {
  /** Where stdout and stderr go; without it, they are inherited (an interactive shell). */
  logFd?: number;
  timeoutMs?: number;
  signal?: AbortSignal;
  interactive?: boolean;
}

export interface SandboxRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  aborted: boolean;
  ms: number;
}

export async function runSandboxed(
  spec: SandboxSpec,
  command: readonly string[],
  options: SandboxRunOptions = {},
): Promise<SandboxRun> {
  if (spec.kind === "chroot") {
    if (process.getuid?.() !== 0) {
      throw new RootstockError("ERR_SANDBOX_NEEDS_ROOT", 'sandbox = "chroot" needs root', {
        hint: 'run rootstock as root, or use sandbox = "bwrap", which needs no privileges',
      });
    }
    await prepareChrootRoot(spec);
  }
  return launch(spec, command, options, false).start(options);
}

/** A sandbox set up and waiting to run its command. */
export interface HeldSandbox {
  /** True once the sandbox is set up and waiting; false if it ended before (its set-up failed). */
  ready: Promise<boolean>;
  /** What the sandbox said before it was ready: why a set-up failed (bwrap's first line). */
  setUpMessage(): string;
  /** Lets the command run; resolves as runSandboxed does, with the time counted from now. */
  release(options?: Pick<SandboxRunOptions, "timeoutMs" | "signal">): Promise<SandboxRun>;
  /** Kills the sandbox without running the command, and waits until every process of it is gone. */
  discard(): Promise<void>;
}

/**
 * Starts a sandbox that sets itself up and then waits (see HELD_LIFELINE), so that its set-up happens
 * while something else still runs. A sandbox whose set-up fails ends at once and is never ready.
 */
export function holdSandbox(
  spec: SandboxSpec,
  command: readonly string[],
  options: Pick<SandboxRunOptions, "logFd"> & {
    /** An open folder the sandbox may mount as HANDED_FOLDER while it sets up; the caller closes it. */
    folderFd?: number;
  },
): HeldSandbox {
  // A chroot's root must be made before it starts (runSandboxed does): not worth holding.
  if (spec.kind === "chroot") throw new Error("a chroot sandbox cannot be held");
  const sandbox = launch(spec, command, options, true);
  return {
    ready: sandbox.ready,
    setUpMessage: () =>
      sandbox.setUpOutput
        .split("\n")
        .map((line) => line.trim())
        .find(Boolean) ?? "",
    release: (limits = {}) => sandbox.start(limits),
    discard: async () => {
      sandbox.kill();
      await sandbox.finished.catch(() => {});
    },
  };
}

/** The held lifeline's gate: the fd after the lifeline's. */
const GATE_FD = 4;

function launch(
  spec: SandboxSpec,
  command: readonly string[],
  options: Pick<SandboxRunOptions, "logFd" | "interactive"> & { folderFd?: number },
  held: boolean,
) {
  const lifeline = !options.interactive;
  const { file, args, env } = sandboxCommand(spec, command, {
    interactive: options.interactive ?? false,
    lifeline,
    held,
  });
  noteToolUse(file, hostPath());
  if (spec.kind === "chroot")
    for (const tool of ["unshare", "mount", "chroot"]) noteToolUse(tool, CHROOT_SETUP_PATH);
  let started = monotonicMs();
  let released = !held;
  let closed = false;
  const child = spawn(hostProgram(file), args, {
    env,
    // The sandbox changes directory itself; this only has to exist.
    cwd: "/",
    // A held sandbox writes to a pipe until it is released, then to fd 6 (see HELD_LIFELINE).
    stdio: options.interactive
      ? "inherit"
      : held
        ? ["ignore", "ignore", "pipe", "pipe", "pipe", options.folderFd ?? "ignore", options.logFd ?? 2]
        : ["ignore", options.logFd ?? "inherit", options.logFd ?? "inherit", "pipe"],
    // A process group of its own (for killing it whole), except for a shell that needs the terminal.
    detached: !options.interactive,
  });
  let timedOut = false;
  let aborted = false;
  let killed: Map<number, string> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let signal: AbortSignal | undefined;
  // Our end of the lifeline: never written, only held while rootstock lives.
  // No stdio at all when the spawn failed (no file descriptors left): its error comes as an event.
  const line = lifeline ? child.stdio?.[3] : undefined;
  line?.on("error", () => {});
  const gate = held ? child.stdio?.[GATE_FD] : undefined;
  gate?.on("error", () => {});
  const setUp = { output: "" };
  if (held)
    child.stderr?.on("data", (chunk: Buffer) => {
      if (setUp.output.length < 4000) setUp.output += chunk.toString();
    });
  // Only a held sandbox says it is ready: its gate's first line.
  const ready = gate
    ? new Promise<boolean>((resolve) => {
        gate.once("data", () => resolve(true));
        child.once("close", () => resolve(false));
        child.once("error", () => resolve(false));
      })
    : Promise.resolve(false);
  const kill = () => {
    if (child.pid === undefined || killed) return;
    if (options.interactive) {
      // A shell sharing rootstock's terminal and process group: only it is killed.
      killed = processTree(child.pid);
      try {
        process.kill(child.pid, "SIGKILL");
      } catch {
        // Already gone.
      }
      return;
    }
    // Stopped first, so that no process of the group forks while the tree is read: bwrap's
    // --new-session takes the sandbox out of the group, and a kill early in its set-up can beat its
    // parent-death signal, so every process found is killed by its PID as well as through the group.
    // Killing the PID namespace's init takes the rest of the namespace down.
    signalGroup(child.pid, "SIGSTOP");
    killed = processTree(child.pid);
    signalGroup(child.pid, "SIGKILL");
    killTree(killed);
    // Letting go of the lifeline makes a sandbox that is still starting kill itself once it runs, and
    // closes this side's end, without which the child's "close" never comes.
    line?.destroy();
    gate?.destroy();
  };
  const onAbort = () => {
    aborted = true;
    kill();
  };
  const finished = new Promise<SandboxRun>((resolve, reject) => {
    child.on("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      if (error.code === "ENOENT") {
        reject(
          new RootstockError("ERR_HOST_TOOL_MISSING", `${file} is not installed on this host`, {
            hint: "run `rootstock doctor --install`",
          }),
        );
      } else reject(error);
    });
    child.on("close", async (code, exitSignal) => {
      closed = true;
      line?.destroy();
      gate?.destroy();
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      // A held sandbox that ended before its release (its set-up failed) ran nothing.
      const ms = released ? monotonicMs() - started : 0;
      // Killed: return only once every process of the sandbox is gone, not just its leader.
      if (killed) await waitForExit(killed);
      resolve({ code, signal: exitSignal, timedOut, aborted, ms });
    });
  });
  // A held sandbox may fail before anyone awaits it; the failure is reported when it is released.
  if (held) finished.catch(() => {});
  const start = (run: Pick<SandboxRunOptions, "timeoutMs" | "signal">): Promise<SandboxRun> => {
    if (closed) return finished;
    // A held sandbox's time starts now; another's when it was spawned.
    if (!released) started = monotonicMs();
    if (run.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        // Ended before its time, but not yet heard of (rootstock was stopped, SIGSTOP or Ctrl-Z, and
        // its timer came due with the exit): judged by its status, which comes next.
        if (child.pid !== undefined && endedUnheard(child.pid)) return;
        timedOut = true;
        kill();
      }, run.timeoutMs);
    }
    signal = run.signal;
    if (signal?.aborted) onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    released = true;
    (gate as Writable | undefined)?.end("\n");
    return finished;
  };
  return {
    start,
    kill,
    finished,
    ready,
    get setUpOutput() {
      return setUp.output;
    },
  };
}

/** A child that has exited and waits to be reaped (a zombie: state Z in /proc). */
function endedUnheard(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z";
  } catch {
    return false;
  }
}

function signalGroup(leader: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-leader, signal);
  } catch {
    // Already gone.
  }
}
