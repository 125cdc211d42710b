/**
 * Runs a command in a sandbox with its output going straight to a log file, and stops it — its whole
 * process tree — on timeout or abort. Every sandbox kind runs in its own PID namespace inside its own
 * process group, so killing the group's leader takes the namespace, and everything in it, down; and a
 * lifeline (see sandbox.ts) takes it down when rootstock itself dies, however early.
 */
import { RootstockError } from "../errors.ts";
import { monotonicMs } from "../units.ts";
import { killTree, processTree, waitForExit } from "./process-tree.ts";
import { prepareChrootRoot, type SandboxSpec, sandboxCommand } from "./sandbox.ts";

const { spawn } = process.getBuiltinModule("node:child_process");

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
  const lifeline = !options.interactive;
  const { file, args, env } = sandboxCommand(spec, command, {
    interactive: options.interactive ?? false,
    lifeline,
  });
  const started = monotonicMs();
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      env,
      // The sandbox changes directory itself; this only has to exist.
      cwd: "/",
      stdio: options.interactive
        ? "inherit"
        : ["ignore", options.logFd ?? "inherit", options.logFd ?? "inherit", "pipe"],
      // A process group of its own (for killing it whole), except for a shell that needs the terminal.
      detached: !options.interactive,
    });
    let timedOut = false;
    let aborted = false;
    let killed: Map<number, string> | undefined;
    // Our end of the lifeline: never written, only held while rootstock lives.
    const line = lifeline ? child.stdio[3] : undefined;
    line?.on("error", () => {});
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
    };
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            kill();
          }, options.timeoutMs);
    const onAbort = () => {
      aborted = true;
      kill();
    };
    if (options.signal?.aborted) onAbort();
    options.signal?.addEventListener("abort", onAbort, { once: true });
    child.on("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      if (error.code === "ENOENT") {
        reject(
          new RootstockError("ERR_HOST_TOOL_MISSING", `${file} is not installed on this host`, {
            hint: "run `rootstock doctor --install`",
          }),
        );
      } else reject(error);
    });
    child.on("close", async (code, signal) => {
      line?.destroy();
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      const ms = monotonicMs() - started;
      // Killed: return only once every process of the sandbox is gone, not just its leader.
      if (killed) await waitForExit(killed);
      resolve({ code, signal, timedOut, aborted, ms });
    });
  });
}

function signalGroup(leader: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-leader, signal);
  } catch {
    // Already gone.
  }
}
