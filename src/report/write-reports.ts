/** Writes report.md and report.html into a run folder, from its journal alone. */
import { writeFileAtomically } from "../atomic-write.ts";
import { RootstockError } from "../errors.ts";
import { JOURNAL_FORMAT, type TimedEvent } from "../events.ts";
import { renderHtml } from "./html.ts";
import { renderMarkdown } from "./markdown.ts";
import { type RunReport, reportFromEvents } from "./model.ts";

// Taken when first needed: a no-op run needs none of it, and loading it costs 2 ms.
const fsp = () => process.getBuiltinModule("node:fs/promises");
const { isAbsolute, join } = process.getBuiltinModule("node:path");

export interface WrittenReports {
  report: RunReport;
  markdown: string;
  html: string;
}

const CONSOLE_LINES = 30;

/**
 * From the run's journal, read from its folder unless the caller has its events at hand. The files are
 * written synchronously: this is a run's last act, when nothing else waits, and a no-op run of a large
 * plan is mostly such small steps.
 */
export async function writeReports(
  runDir: string,
  journaled?: readonly TimedEvent[],
  options: { running?: boolean } = {},
): Promise<WrittenReports> {
  let events: readonly TimedEvent[];
  let damaged: number[] = [];
  try {
    if (journaled) events = journaled;
    else ({ events, damaged } = (await import("./journal-file.ts")).readJournalLines(runDir));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      throw new RootstockError("ERR_RUN_NO_JOURNAL", `${runDir} has no run journal`, {
        hint: "a run folder holds journal.jsonl; list runs with `rootstock runs`",
      });
    }
    throw error;
  }
  // An empty journal would make a report of nothing over the one there: it is damaged, not a run.
  if (events.length === 0)
    throw new RootstockError("ERR_RUN_JOURNAL_DAMAGED", `the journal of ${runDir} holds no events`, {
      hint: "its events are gone; the run's other files (reports, run.json, logs) are left as they are",
    });
  // A newer rootstock's journal may hold what this one would misread: its report is left as it is.
  const told = events.find((event) => event.type === "run:context");
  const format =
    told?.type === "run:context" && typeof told.context === "object" && told.context !== null
      ? told.context.journal
      : undefined;
  // Damaged by other hands: reports made from what is left would state falsehoods over the true ones.
  const flaw =
    damaged.length > 0
      ? `line${damaged.length > 1 ? "s" : ""} ${damaged.slice(0, 5).join(", ")}${damaged.length > 5 ? ", …" : ""} ${damaged.length > 1 ? "are" : "is"} no event`
      : told?.type !== "run:context" ||
          typeof told.context !== "object" ||
          told.context === null ||
          !Array.isArray(told.context.steps) ||
          !Array.isArray(told.context.stages)
        ? "it has no whole run:context (what the run was about)"
        : format !== undefined && !(Number.isSafeInteger(format) && (format as number) > 0)
          ? `its format is ${JSON.stringify(format)}, not a number`
          : undefined;
  if (flaw !== undefined && journaled === undefined)
    throw new RootstockError("ERR_RUN_JOURNAL_DAMAGED", `the journal of ${runDir} is damaged: ${flaw}`, {
      hint: "its reports are left as they are; the journal is not as rootstock wrote it (a copy cut short, or edited)",
    });
  if (typeof format === "number" && format > JOURNAL_FORMAT)
    throw new RootstockError(
      "ERR_RUN_JOURNAL_NEWER",
      `the journal of ${runDir} was written by a newer rootstock (journal format ${format}; this one reads up to ${JOURNAL_FORMAT})`,
      {
        hint: "report it with the rootstock that made the run, or a newer one; its reports are left as they are",
      },
    );
  let report: RunReport;
  try {
    report = reportFromEvents(events);
  } catch (error) {
    throw new RootstockError(
      "ERR_RUN_JOURNAL_DAMAGED",
      `the journal of ${runDir} is damaged: ${String(error)}`,
      {
        hint: "its events are not as rootstock wrote them; the run's other files (run.json, logs) are still there",
        cause: error,
      },
    );
  }
  if (report.unfinished) {
    // Its journal ends where it was killed or where it is now; a step may have worked long since.
    const { lastSignOfLife } = await import("./journal-file.ts");
    const until = options.running ? Date.now() : await lastSignOfLife(runDir);
    report.totalMs = Math.max(report.totalMs, until - report.started);
    // A step the run did not see end ran at least until then.
    for (const step of report.steps)
      if (step.status === "unfinished" && step.start !== undefined)
        step.ms = Math.max(step.ms, report.totalMs - step.start);
    if (options.running) report.running = true;
    else report.totalAtLeast = true;
  }
  const consoleExcerpts = new Map<string, string[]>();
  for (const { machine, path } of report.consoleLogs) {
    const file = isAbsolute(path) ? path : join(runDir, path);
    const text = await fsp()
      .readFile(file, "utf8")
      .catch(() => "");
    const lines = text
      .replace(/\r/g, "")
      .split("\n")
      .filter((line) => line.trim() !== "");
    if (lines.length > 0) consoleExcerpts.set(machine, lines.slice(-CONSOLE_LINES));
  }
  const markdown = join(runDir, "report.md");
  const html = join(runDir, "report.html");
  writeFileAtomically(markdown, renderMarkdown(report));
  writeFileAtomically(html, renderHtml(report, { consoleExcerpts }));
  return { report, markdown, html };
}
