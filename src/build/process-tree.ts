/**
 * The processes descending from one, read from /proc, so that a killed sandbox can be waited for until
 * every one of them is gone (the kernel tears a PID namespace down after its init dies, not at once).
 */
import { monotonicMs } from "../units.ts";

const { readdirSync, readFileSync } = process.getBuiltinModule("node:fs");

interface ProcessInfo {
  pid: number;
  parent: number;
  state: string;
  startTime: string;
}

/** A process's state, parent and start time (in clock ticks since boot), from /proc. */
export function readStat(pid: number): ProcessInfo | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name may hold spaces and parentheses: the fields start after the last ")".
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return { pid, state: fields[0] as string, parent: Number(fields[1]), startTime: fields[19] as string };
  } catch {
    return undefined;
  }
}

/** `root` and all its descendants, with their start times (a PID alone may be reused). */
export function processTree(root: number): Map<number, string> {
  const children = new Map<number, number[]>();
  const infos = new Map<number, ProcessInfo>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const info = readStat(Number(name));
    if (!info) continue;
    infos.set(info.pid, info);
    children.set(info.parent, [...(children.get(info.parent) ?? []), info.pid]);
  }
  const tree = new Map<number, string>();
  const visit = (pid: number) => {
    const info = infos.get(pid);
    if (!info || tree.has(pid)) return;
    tree.set(pid, info.startTime);
    for (const child of children.get(pid) ?? []) visit(child);
  };
  visit(root);
  return tree;
}

/** Sends SIGKILL to every process of the snapshot that is still the process it was (PIDs are reused). */
export function killTree(tree: ReadonlyMap<number, string>): void {
  for (const [pid, startTime] of tree) {
    if (readStat(pid)?.startTime !== startTime) continue;
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Gone meanwhile.
    }
  }
}

/** True while any process of the snapshot still runs (a zombie has stopped running). */
export function anyAlive(tree: ReadonlyMap<number, string>): boolean {
  for (const [pid, startTime] of tree) {
    const info = readStat(pid);
    if (info && info.startTime === startTime && info.state !== "Z" && info.state !== "X") return true;
  }
  return false;
}

/** Waits (polling /proc) until every process of the snapshot has exited, or `limitMs` passes. */
export async function waitForExit(tree: ReadonlyMap<number, string>, limitMs = 10_000): Promise<boolean> {
  const deadline = monotonicMs() + limitMs;
  while (anyAlive(tree)) {
    if (monotonicMs() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return true;
}
