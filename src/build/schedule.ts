/**
 * Runs a DAG of tasks, at most `jobs` at once, longest critical path first. Pure coordination: what a
 * task does is the caller's `run`, so this is tested without processes.
 */
import { INTERRUPTED } from "../events.ts";

export interface ScheduleNode {
  name: string;
  deps: readonly string[];
  /** Expected duration, for the critical path (earlier runs' durations, or a guess). */
  estimateMs: number;
}

/**
 * What a task reports: it succeeded, it failed, it was stopped by the run's signal (which stops the run
 * too), or it cannot start yet because someone else is working on it (another run holds its lock) — it
 * gives back its slot and is offered again once `retryAfter` settles.
 */
export type TaskResult = "done" | "failed" | "interrupted" | { retryAfter: Promise<unknown> };

export interface TaskContext {
  /** Which of the `jobs` slots the task occupies (0-based), for reports that draw lanes. */
  slot: number;
}

export interface ScheduleOptions {
  jobs: number;
  /** Go on with everything that does not depend on a failure (default false: start nothing new). */
  keepGoing?: boolean;
  /** Aborting starts nothing new; running tasks watch the same signal themselves. */
  signal?: AbortSignal;
  /**
   * Told which ready tasks wait for a slot, the first to start first, whenever tasks have been started
   * and some still wait (so that the caller can get them ready meanwhile).
   */
  onWaiting?: (waiting: readonly string[]) => void;
}

export interface Skipped {
  name: string;
  because: string;
}

export interface ScheduleResult {
  done: string[];
  failed: string[];
  interrupted: string[];
  skipped: Skipped[];
}

/** Longest path (sum of estimates) from each node to the end of the graph, the node included. */
export function criticalPaths(nodes: readonly ScheduleNode[]): Map<string, number> {
  const byName = new Map(nodes.map((node) => [node.name, node]));
  const dependents = new Map<string, string[]>();
  for (const node of nodes) {
    for (const dep of node.deps) dependents.set(dep, [...(dependents.get(dep) ?? []), node.name]);
  }
  const memo = new Map<string, number>();
  const visit = (name: string): number => {
    const known = memo.get(name);
    if (known !== undefined) return known;
    const node = byName.get(name) as ScheduleNode;
    let longest = 0;
    for (const dependent of dependents.get(name) ?? []) longest = Math.max(longest, visit(dependent));
    const total = node.estimateMs + longest;
    memo.set(name, total);
    return total;
  };
  for (const node of nodes) visit(node.name);
  return memo;
}

export async function schedule(
  nodes: readonly ScheduleNode[],
  run: (name: string, context: TaskContext) => Promise<TaskResult>,
  options: ScheduleOptions,
): Promise<ScheduleResult> {
  const jobs = Math.max(1, Math.floor(options.jobs));
  const names = new Set(nodes.map((node) => node.name));
  const order = new Map(nodes.map((node, index) => [node.name, index]));
  const priority = criticalPaths(nodes);
  const waitingOn = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  for (const node of nodes) {
    const inGraph = node.deps.filter((dep) => names.has(dep));
    waitingOn.set(node.name, inGraph.length);
    for (const dep of inGraph) dependents.set(dep, [...(dependents.get(dep) ?? []), node.name]);
  }

  const ready: string[] = nodes.filter((node) => waitingOn.get(node.name) === 0).map((node) => node.name);
  const result: ScheduleResult = { done: [], failed: [], interrupted: [], skipped: [] };
  const settled = new Set<string>();
  const freeSlots = Array.from({ length: jobs }, (_, index) => index);
  let running = 0;
  let parked = 0;
  let stopped = false;
  let wake: (() => void) | undefined;

  const byPriority = (a: string, b: string) =>
    (priority.get(b) as number) - (priority.get(a) as number) ||
    (order.get(a) as number) - (order.get(b) as number);

  const skipDependents = (name: string, because: string) => {
    for (const dependent of dependents.get(name) ?? []) {
      if (settled.has(dependent)) continue;
      settled.add(dependent);
      result.skipped.push({ name: dependent, because });
      skipDependents(dependent, because);
    }
  };

  const finish = (name: string, outcome: "done" | "failed" | "interrupted") => {
    settled.add(name);
    if (outcome === "done") {
      result.done.push(name);
      for (const dependent of dependents.get(name) ?? []) {
        const left = (waitingOn.get(dependent) as number) - 1;
        waitingOn.set(dependent, left);
        if (left === 0 && !settled.has(dependent)) ready.push(dependent);
      }
    } else if (outcome === "interrupted") {
      result.interrupted.push(name);
      skipDependents(name, INTERRUPTED);
      stopped = true;
    } else {
      result.failed.push(name);
      skipDependents(name, `depends on ${name}, which failed`);
      if (!options.keepGoing) stopped = true;
    }
  };

  const start = (name: string) => {
    const slot = freeSlots.shift() as number;
    running++;
    const release = () => {
      running--;
      freeSlots.push(slot);
      freeSlots.sort((a, b) => a - b);
    };
    run(name, { slot }).then(
      (outcome) => {
        release();
        if (typeof outcome === "object") {
          parked++;
          const requeue = () => {
            parked--;
            ready.push(name);
            wake?.();
          };
          outcome.retryAfter.then(requeue, requeue);
        } else finish(name, outcome);
        wake?.();
      },
      () => {
        release();
        finish(name, "failed");
        wake?.();
      },
    );
  };

  const onAbort = () => wake?.();
  options.signal?.addEventListener("abort", onAbort);
  for (;;) {
    if (options.signal?.aborted) stopped = true;
    if (!stopped) {
      ready.sort(byPriority);
      while (running < jobs && ready.length > 0) start(ready.shift() as string);
      if (ready.length > 0) options.onWaiting?.(ready);
    }
    if (running === 0 && (stopped || (ready.length === 0 && parked === 0))) break;
    await new Promise<void>((resolve) => {
      wake = resolve;
    });
    wake = undefined;
  }
  options.signal?.removeEventListener("abort", onAbort);

  const reason = options.signal?.aborted
    ? INTERRUPTED
    : `not started: the run stops at the first failure (${result.failed[0] ?? "?"}); --keep-going builds the rest`;
  for (const node of nodes) {
    if (!settled.has(node.name)) result.skipped.push({ name: node.name, because: reason });
  }
  return result;
}
