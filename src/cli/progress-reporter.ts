/**
 * What a person sees of a run. On a terminal: one line per finished step, and a status line redrawn in
 * place (steps done of total, the running steps with their elapsed time, an ETA from earlier runs).
 * Elsewhere (a pipe, a file, CI): plain lines only, one per event worth reading.
 */

import { INTERRUPTED, type Listener, type StepReason, type TimedEvent } from "../events.ts";
import { formatBytes, formatDuration, printableLine, visibleText } from "../units.ts";
import type { CliContext } from "./context.ts";
import type { FetchReporter } from "./fetch-reporter.ts";
import { lineFitter } from "./fit-line.ts";

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
  /** Steps skipped because a dependency failed: listed, and counted in the summary. */
  let skipped = 0;
  /** Steps the run never started (interrupted, or stopped at a failure), by reason: counted, not listed. */
  const notStarted = new Map<string, number>();
  let jobs = 1;
  let keepGoing = false;
  const running = new Map<string, Running>();
  const estimates = new Map<string, number | undefined>();
  /** Of each step still to build, the steps it waits for in this run. */
  const waitsFor = new Map<string, readonly string[]>();
  let statusShown = false;
  /** Between a build's run:done and the next run:start: no status line to draw. */
  let ended = false;
  const columns = () => options.columns ?? ((context.stdout as NodeJS.WriteStream).columns || 100);
  const fit = lineFitter(options.live);
  // Sources a run fetches first are shown as `rootstock fetch` shows them. Its reporter is loaded on the
  // first fetch, and the events that come meanwhile wait, so that lines keep their order.
  let fetchReporter: FetchReporter | undefined;
  let waiting: TimedEvent[] | undefined;

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
    if (!options.live || total === 0 || ended) return;
    const now = Date.now();
    const parts = [...running].map(([step, state]) => `${step} ${formatDuration(now - state.since)}`);
    const eta = estimateRemaining(now);
    const etaText =
      eta === undefined
        ? ""
        : eta.overdue
          ? ` ETA ? (${eta.overdue} runs past its usual time) ·`
          : ` ETA ${formatDuration(eta.ms)} ·`;
    // The ETA first, then the running steps: cut to the terminal's width, the list loses its end.
    const line = `[${finished}/${total}]${etaText} ${parts.length > 0 ? parts.join(", ") : "…"}`;
    context.stdout.write(`\r\x1b[K${context.style("dim", fit(line, columns() - 1))}`);
    statusShown = true;
  };
  /**
   * The longest chain of steps still to build (each after the steps it waits for), or the remaining work
   * spread over the jobs, whichever is longer. A step no earlier run timed counts as the median of those
   * that were, as the scheduler counts it; with none timed, there is no ETA. A running step past its
   * usual time makes the ETA unknown once nothing else is left to wait for.
   */
  const estimateRemaining = (now: number): { ms: number; overdue?: string } | undefined => {
    if (estimates.size === 0) return undefined;
    const known = [...estimates.values()]
      .filter((ms): ms is number => ms !== undefined)
      .sort((a, b) => a - b);
    const fallback = known.length > 0 ? known[Math.floor(known.length / 2)] : undefined;
    const left = new Map<string, number>();
    let overdue: string | undefined;
    for (const [step, estimate] of estimates) {
      const state = running.get(step);
      const expected = estimate ?? state?.estimateMs ?? fallback;
      if (expected === undefined) return undefined;
      const remaining = state ? expected - (now - state.since) : expected;
      if (remaining < 0) overdue ??= step;
      left.set(step, Math.max(0, remaining));
    }
    const chain = new Map<string, number>();
    const chainOf = (step: string): number => {
      const known = chain.get(step);
      if (known !== undefined) return known;
      chain.set(step, 0);
      const before = (waitsFor.get(step) ?? []).filter((dep) => left.has(dep));
      const length = (left.get(step) ?? 0) + Math.max(0, ...before.map(chainOf));
      chain.set(step, length);
      return length;
    };
    let work = 0;
    let longest = 0;
    for (const [step, ms] of left) {
      work += ms;
      longest = Math.max(longest, chainOf(step));
    }
    const ms = Math.max(longest, work / jobs);
    return overdue !== undefined && ms < 1000 ? { ms, overdue } : { ms };
  };
  const timer = options.live ? setInterval(drawStatus, 1000 / (options.refreshHz ?? 4)) : undefined;
  timer?.unref();

  const listener = (event: TimedEvent) => {
    if (waiting) {
      waiting.push(event);
      return;
    }
    if (event.type.startsWith("fetch:")) {
      if (fetchReporter) fetchReporter.emit(event);
      else if (event.type === "fetch:plan" && event.missing > 0) {
        waiting = [event];
        import("./fetch-reporter.ts").then(({ createFetchReporter }) => {
          fetchReporter = createFetchReporter(context);
          const events = waiting ?? [];
          waiting = undefined;
          for (const each of events) listener(each);
        });
      }
      return;
    }
    switch (event.type) {
      case "run:start":
        fetchReporter?.finish();
        // A session may hold several builds (an image's, then its test's): each is counted alone.
        ended = false;
        finished = 0;
        cached = 0;
        skipped = 0;
        notStarted.clear();
        total = event.steps.length;
        jobs = event.jobs;
        if (!options.live)
          context.out(`run ${event.runId}: ${total} step${total === 1 ? "" : "s"}, ${jobs} at once`);
        break;
      case "run:schedule":
        keepGoing = event.keepGoing ?? false;
        for (const { step, estimateMs, deps } of event.steps) {
          estimates.set(step, estimateMs);
          if (deps) waitsFor.set(step, deps);
        }
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
        // Without --keep-going nothing more starts: the ETA is of the steps still running.
        if (!keepGoing)
          for (const step of [...estimates.keys()]) if (!running.has(step)) estimates.delete(step);
        clearStatus();
        if (event.interrupted) {
          // The person stopped it: nothing of the step's own doing to show.
          context.out(`${context.style(["bold", "yellow"], "■")} ${event.step} interrupted`);
          context.out(`    log:   ${event.log}`);
          drawStatus();
          break;
        }
        context.out(
          `${context.style(["bold", "red"], "✗")} ${event.step} failed: ${visibleText(event.reason)}`,
        );
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
        else {
          // A step the plan disables (`when`) is no step of this run's.
          if (!event.because.startsWith("when = ")) skipped++;
          print(`${context.style("dim", "-")} ${event.step} skipped: ${event.because}`);
        }
        break;
      case "run:done": {
        ended = true;
        clearStatus();
        let unstarted = 0;
        for (const [because, count] of notStarted) {
          unstarted += count;
          context.out(
            `${context.style("dim", "-")} ${count} step${count === 1 ? "" : "s"} ${because.startsWith("not started: ") ? because : `not started: ${because}`}`,
          );
        }
        const parts = [`${event.built} built`, `${cached} cached`];
        if (event.failed.length > 0) parts.push(`${event.failed.length} failed`);
        if (event.interrupted && event.interrupted.length > 0)
          parts.push(`${event.interrupted.length} stopped`);
        if (skipped > 0) parts.push(`${skipped} skipped`);
        if (unstarted > 0) parts.push(`${unstarted} not started`);
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
      // A run stopped while it fetched (Ctrl-C) leaves the fetch's status line to clear.
      fetchReporter?.finish();
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
