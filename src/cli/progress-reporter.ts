/**
 * What a person sees of a run. On a terminal: one line per finished step, and a status line redrawn in
 * place (steps done of total, the running steps with their elapsed time, an ETA from earlier runs).
 * Elsewhere (a pipe, a file, CI): plain lines only, one per event worth reading.
 */

import { INTERRUPTED, type Listener, type StepReason, type TimedEvent } from "../events.ts";
import { formatBytes, formatDuration, printableLine } from "../units.ts";
import type { CliContext } from "./context.ts";

export interface ProgressOptions {
  /** Redraw a status line in place (a terminal that is not CI). */
  live: boolean;
  /** The plan as the user named it, for the commands suggested after a failure. */
  planArg: string;
  /** The --set values it was given, for the same. */
  set?: readonly string[];
  /** Redraws per second of the status line (default 4). */
  refreshHz?: number;
  /** Columns of the terminal (default: the stream's, else 100). */
  columns?: number;
}

export interface ProgressReporter {
  listener: Listener;
  stop(): void;
}

interface Running {
  since: number;
  attempt: number;
  attempts: number;
  estimateMs?: number;
}

export function createProgressReporter(context: CliContext, options: ProgressOptions): ProgressReporter {
  let total = 0;
  let finished = 0;
  let cached = 0;
  /** Steps the run never started (interrupted, or stopped at a failure), by reason: counted, not listed. */
  const notStarted = new Map<string, number>();
  let jobs = 1;
  const running = new Map<string, Running>();
  const estimates = new Map<string, number | undefined>();
  let statusShown = false;
  const columns = () => options.columns ?? ((context.stdout as NodeJS.WriteStream).columns || 100);

  const clearStatus = () => {
    if (statusShown) context.stdout.write("\r\x1b[K");
    statusShown = false;
  };
  const print = (line: string) => {
    clearStatus();
    context.out(line);
    drawStatus();
  };
  const drawStatus = () => {
    if (!options.live || total === 0) return;
    const now = Date.now();
    const parts = [...running].map(([step, state]) => `${step} ${formatDuration(now - state.since)}`);
    const eta = estimateRemaining(now);
    let line = `[${finished}/${total}] ${parts.length > 0 ? parts.join(", ") : "…"}${eta === undefined ? "" : ` · ETA ${formatDuration(eta)}`}`;
    if (line.length > columns() - 1) line = `${line.slice(0, columns() - 2)}…`;
    context.stdout.write(`\r\x1b[K${context.style("dim", line)}`);
    statusShown = true;
  };
  /**
   * Remaining work spread over the jobs, but never less than the longest running step's remainder. A step
   * no earlier run timed counts as the median of those that were, as the scheduler counts it; with none
   * timed, there is no ETA.
   */
  const estimateRemaining = (now: number): number | undefined => {
    if (estimates.size === 0) return undefined;
    const known = [...estimates.values()]
      .filter((ms): ms is number => ms !== undefined)
      .sort((a, b) => a - b);
    const fallback = known.length > 0 ? known[Math.floor(known.length / 2)] : undefined;
    let work = 0;
    let longest = 0;
    for (const [step, estimate] of estimates) {
      const state = running.get(step);
      const expected = estimate ?? state?.estimateMs ?? fallback;
      if (expected === undefined) return undefined;
      const left = state ? Math.max(0, expected - (now - state.since)) : expected;
      work += left;
      if (state) longest = Math.max(longest, left);
    }
    return Math.max(longest, work / jobs);
  };
  const timer = options.live ? setInterval(drawStatus, 1000 / (options.refreshHz ?? 4)) : undefined;
  timer?.unref();

  const listener = (event: TimedEvent) => {
    switch (event.type) {
      case "run:start":
        total = event.steps.length;
        jobs = event.jobs;
        if (!options.live)
          context.out(`run ${event.runId}: ${total} step${total === 1 ? "" : "s"}, ${jobs} at once`);
        break;
      case "run:schedule":
        for (const { step, estimateMs } of event.steps) estimates.set(step, estimateMs);
        break;
      case "step:explain": {
        const { reason } = event;
        const why =
          reason.kind === "cached"
            ? "cached"
            : reason.kind === "no-entry"
              ? noEntryReason(reason.before)
              : reason.kind === "changed"
                ? `runs: changed ${reason.inputs.join(", ")}`
                : "runs: forced";
        print(`${context.style(reason.kind === "cached" ? "dim" : "yellow", event.step.padEnd(20))} ${why}`);
        break;
      }
      case "step:cached":
        cached++;
        finished++;
        estimates.delete(event.step);
        break;
      case "step:waiting":
        print(`${context.style("yellow", "…")} ${event.step} waits: ${event.reason}`);
        break;
      case "step:start":
        running.set(event.step, {
          since: event.time,
          attempt: event.attempt,
          attempts: event.attempts,
          ...(event.estimateMs === undefined ? {} : { estimateMs: event.estimateMs }),
        });
        if (!options.live) {
          const attempt = event.attempts > 1 ? ` (attempt ${event.attempt} of ${event.attempts})` : "";
          context.out(`▶ ${event.step}${attempt}`);
        } else drawStatus();
        break;
      case "step:attempt-failed":
        if (event.retrying)
          print(
            `${context.style("yellow", "↻")} ${event.step}: attempt ${event.attempt} failed (${event.reason}); retrying`,
          );
        break;
      case "step:done":
        running.delete(event.step);
        estimates.delete(event.step);
        finished++;
        print(
          `${context.style("green", "✓")} ${event.step.padEnd(20)} ${formatDuration(event.ms).padStart(7)}  ${formatBytes(event.bytes)}`,
        );
        break;
      case "step:failed": {
        running.delete(event.step);
        estimates.delete(event.step);
        finished++;
        clearStatus();
        if (event.interrupted) {
          // The person stopped it: nothing of the step's own doing to show.
          context.out(`${context.style(["bold", "yellow"], "■")} ${event.step} interrupted`);
          context.out(`    log:   ${event.log}`);
          drawStatus();
          break;
        }
        context.out(`${context.style(["bold", "red"], "✗")} ${event.step} failed: ${event.reason}`);
        for (const line of event.tail) context.out(context.style("dim", `    │ ${printableLine(line)}`));
        context.out(`    log:   ${event.log}`);
        if (!event.noSandbox)
          context.out(
            `    shell: rootstock shell ${context.planWords(options.planArg, options.set)} ${event.step}`,
          );
        drawStatus();
        break;
      }
      case "step:skipped":
        if (estimates.has(event.step) || running.has(event.step)) finished++;
        estimates.delete(event.step);
        // Ctrl-C, or a first failure, on a large run leaves hundreds of steps unstarted for one reason:
        // one line says it, below.
        if (event.because === INTERRUPTED || event.because.startsWith("not started: "))
          notStarted.set(event.because, (notStarted.get(event.because) ?? 0) + 1);
        else print(`${context.style("dim", "-")} ${event.step} skipped: ${event.because}`);
        break;
      case "run:done": {
        clearStatus();
        for (const [because, count] of notStarted)
          print(
            `${context.style("dim", "-")} ${count} step${count === 1 ? "" : "s"} ${because.startsWith("not started: ") ? because : `not started: ${because}`}`,
          );
        const parts = [`${event.built} built`, `${cached} cached`];
        if (event.failed.length > 0) parts.push(`${event.failed.length} failed`);
        if (event.interrupted && event.interrupted.length > 0)
          parts.push(`${event.interrupted.length} stopped`);
        const verdict = event.ok
          ? context.style("green", "ok")
          : event.interrupted
            ? context.style("yellow", "interrupted")
            : context.style("red", "failed");
        context.out(`run ${event.runId} ${verdict}: ${parts.join(", ")} in ${formatDuration(event.ms)}`);
        break;
      }
      default:
        break;
    }
  };
  return {
    listener,
    stop() {
      if (timer) clearInterval(timer);
      clearStatus();
    },
  };
}

function noEntryReason(before: Extract<StepReason, { kind: "no-entry" }>["before"]): string {
  switch (before?.outcome) {
    case "failed":
      return `runs: no entry with its key; its last build with these inputs failed (run ${before.runId})`;
    case "unfinished":
      return `runs: no entry with its key; its last build with these inputs did not finish (run ${before.runId})`;
    case "removed":
      return `runs: no entry with its key; built with these inputs in run ${before.runId}, and the entry was removed since (by gc or by hand)`;
    default:
      return "runs: no entry with its key, and no earlier build of it by this plan to compare with (never built, built by another plan, or removed by gc)";
  }
}
