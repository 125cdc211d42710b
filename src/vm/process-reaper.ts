/**
 * Processes that must not outlive rootstock (QEMU). Each is started under `setpriv --pdeathsig KILL`,
 * so the kernel kills it when rootstock dies, even by SIGKILL; the ones still running when rootstock
 * exits normally are killed on the way out.
 */
import type { ChildProcess, SpawnOptions } from "node:child_process";
import { noteToolUse } from "../host/tools.ts";

const { spawn } = process.getBuiltinModule("node:child_process");
const { accessSync, constants } = process.getBuiltinModule("node:fs");

const live = new Set<ChildProcess>();
let hooked = false;

function killAll(): void {
  for (const child of live) {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

let setpriv: string | null | undefined;

/** setpriv from util-linux, which can ask for a parent-death signal before it execs the program. */
function findSetpriv(): string | null {
  if (setpriv !== undefined) return setpriv;
  setpriv = null;
  for (const candidate of ["/usr/bin/setpriv", "/bin/setpriv"]) {
    try {
      accessSync(candidate, constants.X_OK);
      setpriv = candidate;
      break;
    } catch {
      // Try the next one.
    }
  }
  return setpriv;
}

/**
 * Spawns a process that dies with this one. The parent-death signal fires when the thread that forked
 * it exits; Node forks from its main thread, which lives as long as the process.
 */
export function spawnTied(
  command: string,
  args: readonly string[],
  options: SpawnOptions = {},
): ChildProcess {
  noteToolUse(command, options.env?.PATH ?? process.env.PATH ?? "");
  const wrapper = findSetpriv();
  const child = wrapper
    ? spawn(wrapper, ["--pdeathsig", "KILL", "--", command, ...args], options)
    : spawn(command, args, options);
  if (!hooked) {
    hooked = true;
    process.once("exit", killAll);
  }
  live.add(child);
  child.once("exit", () => live.delete(child));
  child.once("error", () => live.delete(child));
  return child;
}

/** Processes started by spawnTied that have not exited yet (for tests and diagnostics). */
export function liveProcesses(): number[] {
  return [...live].map((child) => child.pid).filter((pid): pid is number => pid !== undefined);
}
