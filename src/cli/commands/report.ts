import type { Command } from "commander";
import { RootstockError } from "../../errors.ts";
import { listRuns, type RunSummary } from "../../report/list-runs.ts";
import { writeReports } from "../../report/write-reports.ts";
import { runIsLiveById, runsDir } from "../../store/run-record.ts";
import { formatDuration } from "../../units.ts";
import type { CliContext } from "../context.ts";

const { stat } = process.getBuiltinModule("node:fs/promises");
const { basename, join, resolve } = process.getBuiltinModule("node:path");

/** A run by id, by folder, or `last`. */
async function findRun(run: string, storeDir: string): Promise<string> {
  if (run === "last" || run === "latest") {
    const newest = (await listRuns(storeDir))[0];
    if (!newest)
      throw new RootstockError("ERR_RUN_NOT_FOUND", `no runs in ${runsDir(storeDir)}`, {
        hint: "run a plan first: rootstock run PLAN",
      });
    return newest.runDir;
  }
  const isFile = (path: string) =>
    stat(path).then(
      (info) => info.isFile(),
      () => false,
    );
  for (const candidate of [resolve(run), join(runsDir(storeDir), run)]) {
    if (await isFile(join(candidate, "journal.jsonl"))) return candidate;
    // The run is there; its journal, which reports are made from, is not.
    if (await isFile(join(candidate, "run.json")))
      throw new RootstockError("ERR_RUN_NO_JOURNAL", `${candidate} has no run journal (journal.jsonl)`, {
        hint: "reports are made from the journal; its reports and run.json, if any, are still there",
      });
  }
  const known = (await listRuns(storeDir)).slice(0, 5).map((item) => item.runId);
  throw new RootstockError("ERR_RUN_NOT_FOUND", `no run "${run}" in ${runsDir(storeDir)}`, {
    hint:
      known.length > 0
        ? `recent runs: ${known.join(", ")} (or "last")`
        : "run a plan first: rootstock run PLAN",
  });
}

/** A killed run's time is only what its journal and logs show: at least that long. */
function duration(run: RunSummary): string {
  if (run.result === "running") return formatDuration(Date.now() - run.started);
  return `${run.result === "unfinished" ? "≥" : ""}${formatDuration(run.totalMs)}`;
}

export function registerReport(program: Command, context: CliContext): void {
  program
    .command("runs")
    .description("list past runs: date, plan, result, duration")
    .option("--json", "print JSON")
    .action(async (options: { json?: boolean }) => {
      const runs = await listRuns(context.storeDir);
      if (options.json) {
        context.out(JSON.stringify(runs, null, 2));
        return;
      }
      if (runs.length === 0) {
        context.out(`no runs yet in ${runsDir(context.storeDir)}`);
        return;
      }
      for (const run of runs) {
        const date = localTime(run.started);
        const tone =
          run.result === "passed"
            ? "green"
            : run.result === "running" || run.result === "interrupted"
              ? "yellow"
              : "red";
        const result = context.style(tone, run.result.padEnd(10));
        context.out(
          `${date}  ${run.plan.padEnd(16)} ${run.command.padEnd(7)} ${result}  ${duration(run).padStart(8)}  ${run.built} built, ${run.cached} cached${run.tests ? `, ${run.testsPassed} of ${run.tests} tests passed` : ""}${run.error ? `, stopped by ${run.error.code}` : ""}  ${context.style("dim", run.runId)}`,
        );
      }
    });

  program
    .command("report")
    .description("write a run's report.md and report.html again, from its journal")
    .argument("<run>", "run id, run folder, or `last`")
    .action(async (run: string) => {
      const runDir = await findRun(run, context.storeDir);
      const running = await runIsLiveById(context.storeDir, basename(runDir));
      const written = await writeReports(runDir, undefined, { running });
      if (running) context.out(`run ${basename(runDir)} is still running: the report is of the run so far`);
      context.out(`report: ${written.markdown}`);
      context.out(`        ${written.html}`);
    });
}

/** A moment as this machine's clock shows it (as `ls -l` does), to the second. */
export function localTime(epochMs: number): string {
  const at = new Date(epochMs);
  const two = (value: number) => String(value).padStart(2, "0");
  return `${at.getFullYear()}-${two(at.getMonth() + 1)}-${two(at.getDate())} ${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())}`;
}
