/** The runs a store remembers, newest first. */
import type { RunError } from "../events.ts";
import { listFolder } from "../store/fs-refusal.ts";
import { readRunRecord, runIsLiveById, runsDir } from "../store/run-record.ts";
import { lastSignOfLife, readJournal } from "./journal-file.ts";
import { reportFromEvents, testCounts } from "./model.ts";

const { join } = process.getBuiltinModule("node:path");

export interface RunSummary {
  runId: string;
  runDir: string;
  started: number;
  plan: string;
  command: string;
  /**
   * A journal without an end is a run going on (its process is alive) or one that was killed; one that
   * ended on Ctrl-C or SIGTERM is interrupted (its record says so).
   */
  result: "passed" | "failed" | "interrupted" | "running" | "unfinished";
  totalMs: number;
  built: number;
  cached: number;
  /** Tests run or skipped, and of them those that passed. */
  tests: number;
  testsPassed: number;
  /** What stopped it besides its steps and tests (sources that could not be had). */
  error?: RunError;
}

export async function listRuns(storeDir: string): Promise<RunSummary[]> {
  const dir = runsDir(storeDir);
  const names = await listFolder(dir, storeDir);
  const summaries: RunSummary[] = [];
  for (const name of names) {
    const runDir = join(dir, name);
    let events: ReturnType<typeof readJournal> | undefined;
    try {
      events = readJournal(runDir);
    } catch {
      events = undefined;
    }
    if (!events || events.length === 0) continue;
    let report: ReturnType<typeof reportFromEvents>;
    try {
      report = reportFromEvents(events);
    } catch {
      // Events of the right type but damaged fields: one such run does not hide the others.
      continue;
    }
    const live = report.unfinished && (await runIsLiveById(storeDir, name));
    // Older journals do not say; their record does.
    const interrupted =
      !report.unfinished &&
      !report.ok &&
      (report.interrupted || (await readRunRecord(runDir))?.state === "interrupted");
    summaries.push({
      runId: report.runId === "unknown" ? name : report.runId,
      runDir,
      started: report.started,
      plan:
        report.context?.plan.name ??
        (events.find((event) => event.type === "run:start") as { plan?: string } | undefined)?.plan ??
        "?",
      command: report.context?.command ?? "run",
      result: live
        ? "running"
        : report.unfinished
          ? "unfinished"
          : report.ok
            ? "passed"
            : interrupted
              ? "interrupted"
              : "failed",
      // A run going on has run until now; a killed one until its last sign of life.
      totalMs: live
        ? Math.max(report.totalMs, Date.now() - report.started)
        : report.unfinished
          ? Math.max(report.totalMs, (await lastSignOfLife(runDir)) - report.started)
          : report.totalMs,
      built: report.steps.filter((step) => step.status === "built").length,
      cached: report.steps.filter((step) => step.status === "cached").length,
      tests: report.tests.length,
      testsPassed: testCounts(report.tests).passed,
      ...(report.error ? { error: report.error } : {}),
    });
  }
  return summaries.sort((a, b) => b.started - a.started);
}
