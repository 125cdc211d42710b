/**
 * A run: one folder under `runs/`, one journal, one lock. Building is one part of it; `rootstock test`
 * and the demo add images and boot tests to the same run, so that its journal — and the reports made
 * from it — tell the whole story. Closing a run writes report.md and report.html into its folder.
 */
import { RootstockError, RootstockErrors } from "../errors.ts";
import type { Emit, RootstockEvent, RunError, TimedEvent } from "../events.ts";
import { type ToolIdentity, toolsUsedSince, toolUseMark } from "../host/tools.ts";
import type { Graph } from "../plan/graph.ts";
import { describeRun } from "../report/context.ts";
import { type WrittenReports, writeReports } from "../report/write-reports.ts";
import {
  JOURNAL_FILE,
  newRunId,
  processStart,
  type RunRecord,
  type RunState,
  runsDir,
  writeRunRecord,
} from "../store/run-record.ts";
import { monotonicMs } from "../units.ts";

const { closeSync, mkdirSync, openSync, writeSync } = process.getBuiltinModule("node:fs");
const { join } = process.getBuiltinModule("node:path");

export interface OpenRunOptions {
  storeDir: string;
  /** The command the run is for: run, test, demo, netboot (default run). */
  command?: string;
  /** The steps or images the command named after the plan, for the report's command line. */
  targets?: readonly string[];
  /** The options the command was given, for the report's command line. */
  options?: readonly string[];
  /** Steps built at once, recorded in run.json. */
  jobs: number;
  /** Host tool identities already found; recorded as the run's binary seeds. */
  tools: ReadonlyMap<string, ToolIdentity | undefined>;
  emit?: Emit;
}

export interface RunOutcome {
  ok: boolean;
  interrupted?: boolean;
  /** What stopped the run, when something did besides its steps and tests (kept in journal and run.json). */
  error?: unknown;
}

export class RunSession {
  readonly runId: string;
  readonly runDir: string;
  readonly storeDir: string;
  readonly record: RunRecord;
  readonly #forward: Emit | undefined;
  readonly #started = monotonicMs();
  readonly #toolMark = toolUseMark();
  #journalFd: number | undefined;
  #pending: string[] = [];
  /** Every journaled event, so that the reports need not read the journal back. */
  #journaled: TimedEvent[] = [];

  private constructor(storeDir: string, record: RunRecord, forward: Emit | undefined) {
    this.storeDir = storeDir;
    this.runId = record.runId;
    this.runDir = join(runsDir(storeDir), record.runId);
    this.record = record;
    this.#forward = forward;
  }

  /** Registers the run (live, keys listed, so that gc spares its entries) and opens its journal. */
  static async open(graph: Graph, options: OpenRunOptions): Promise<RunSession> {
    const runId = newRunId();
    // A dictionary from the start: giving a plain object 500 names one by one costs V8 about 2 ms of
    // shape changes, Object.fromEntries included.
    const keys: Record<string, string> = Object.create(null);
    for (const step of graph.steps) keys[step.name] = step.key;
    const record: RunRecord = {
      runId,
      plan: graph.plan.name,
      planDir: graph.plan.dir,
      pid: process.pid,
      started: new Date().toISOString(),
      state: "running",
      jobs: options.jobs,
      keys,
      built: [],
      cached: [],
      failed: [],
      skipped: [],
    };
    const session = new RunSession(options.storeDir, record, options.emit);
    // One level at a time: a recursive mkdir on a read-only disk says ENOENT where the truth is EROFS.
    mkdirSync(runsDir(options.storeDir), { recursive: true });
    mkdirSync(session.runDir);
    mkdirSync(join(session.runDir, "logs"));
    // What tells gc, and later runs, that this run is live: no lock to hold, the process is the lock.
    const start = processStart(process.pid);
    if (start !== undefined) record.processStart = start;
    writeRunRecord(session.runDir, record);
    session.#journalFd = openSync(join(session.runDir, JOURNAL_FILE), "a");
    session.emit({
      type: "run:context",
      context: await describeRun(graph, options.tools, {
        command: options.command ?? "run",
        storeDir: options.storeDir,
        ...(options.targets && options.targets.length > 0 ? { targets: options.targets } : {}),
        ...(options.options ? { options: options.options } : {}),
      }),
    });
    return session;
  }

  /**
   * Journals the event and passes it on. Lines are written in batches: a burst of events (500 cached
   * steps) costs one write, and a kill loses at most the events of the current tick.
   */
  readonly emit: Emit = (event: RootstockEvent) => {
    // A machine's console has a file of its own (console.log), as a step's output has (logs/STEP.log).
    if (this.#journalFd !== undefined && event.type !== "vm:console") {
      if (this.#pending.length === 0) setImmediate(this.#flush);
      const timed = { ...event, time: Date.now() } as TimedEvent;
      this.#journaled.push(timed);
      this.#pending.push(`${JSON.stringify(timed)}\n`);
    }
    this.#forward?.(event);
  };

  readonly #flush = () => {
    try {
      if (this.#journalFd !== undefined && this.#pending.length > 0 && this.#journalError === undefined) {
        // A short write (the file-size limit, a nearly full disk) is written on: the next one says why.
        const data = Buffer.from(this.#pending.join(""));
        for (let written = 0; written < data.length; )
          written += writeSync(this.#journalFd, data, written, data.length - written);
      }
    } catch (error) {
      // A full or read-only disk: called from setImmediate, a throw would end the process mid-run. The run
      // goes on to its end (its reports come from memory), and close() says what went wrong, naming the
      // journal (a write to an open file names none).
      if (error instanceof Error && (error as NodeJS.ErrnoException).path === undefined)
        Object.assign(error, { path: join(this.runDir, "journal.jsonl") });
      this.#journalError = error;
    }
    this.#pending = [];
  };

  #journalError: unknown;

  /** Store entries besides step outputs (images, bundles) this run uses, so that gc keeps them. */
  async useEntries(kind: string, keys: Record<string, string>): Promise<void> {
    for (const [name, key] of Object.entries(keys)) this.record.keys[`${kind}:${name}`] = key;
    writeRunRecord(this.runDir, this.record);
  }

  /** Ends the run: `run:end` in the journal, the final run.json, then the reports. */
  async close(outcome: RunOutcome): Promise<WrittenReports | undefined> {
    if (this.#journalFd === undefined) return undefined;
    const ms = monotonicMs() - this.#started;
    // An interrupted run says so; the error that Ctrl-C caused on its way out says nothing more.
    const error = outcome.error === undefined || outcome.interrupted ? undefined : runErrorOf(outcome.error);
    await this.#journalToolsUsed();
    this.emit({
      type: "run:end",
      runId: this.runId,
      ok: outcome.ok && !outcome.interrupted,
      ms,
      ...(outcome.interrupted ? { interrupted: true as const } : {}),
      ...(error ? { error } : {}),
    });
    const state: RunState = outcome.interrupted ? "interrupted" : outcome.ok ? "ok" : "failed";
    Object.assign(this.record, { state, finished: new Date().toISOString(), ms }, error ? { error } : {});
    this.#flush();
    closeSync(this.#journalFd);
    this.#journalFd = undefined;
    // The reports before the final run.json: until it says how the run ended, the run is live, and gc
    // leaves its folder alone while they are written.
    let reports: WrittenReports;
    try {
      reports = await writeReports(this.runDir, this.#journaled);
    } finally {
      writeRunRecord(this.runDir, this.record);
    }
    if (this.#journalError !== undefined) throw this.#journalError;
    return reports;
  }

  /** Names the host tools this run ran itself; a no-op run ran none, and pays nothing here. */
  async #journalToolsUsed(): Promise<void> {
    const used = toolsUsedSince(this.#toolMark);
    if (used.length === 0) return;
    const { identifyUsedTools } = await import("../host/tool-cache.ts");
    const tools = await identifyUsedTools(used, join(this.storeDir, "cache", "tools.json")).catch(() => []);
    if (tools.length > 0)
      this.emit({
        type: "run:tools",
        tools: tools.map(({ name, path, realPath, version, sha256 }) => ({
          name,
          path,
          realPath,
          version,
          sha256,
        })),
      });
  }

  /**
   * Ends a run that `error` stopped, its reports saying why, and throws the error on with the report's
   * path, for the command line to show. A failure to write the reports does not hide the error.
   */
  async closeWithError(error: unknown, interrupted: boolean): Promise<never> {
    // A full or read-only disk is recorded as the terminal shows it, not as a bug.
    const { fileSystemRefusal } = await import("../store/fs-refusal.ts");
    const recorded = fileSystemRefusal(error, this.storeDir) ?? error;
    if (recorded instanceof RootstockError) {
      const { locateLines } = await import("../plan/locate.ts");
      locateLines(recorded);
    }
    const reports = await this.close({ ok: false, interrupted, error: recorded }).catch(() => undefined);
    if (reports && error instanceof RootstockError) error.report ??= reports.html;
    throw error;
  }
}

/** The error as the terminal shows it: its code, headline and the errors it gathers. */
export function runErrorOf(error: unknown): RunError {
  if (!(error instanceof RootstockError))
    return { code: "ERR_INTERNAL", message: error instanceof Error ? error.message : String(error) };
  return {
    code: error.code,
    message: error.headline,
    ...(error instanceof RootstockErrors
      ? {
          details: error.errors.map(
            (inner) =>
              `${inner.headline.replace(/\n|$/, ` [${inner.code}]$&`)}${inner.hint ? `\n  hint: ${inner.hint}` : ""}`,
          ),
        }
      : {}),
    ...(error.hint ? { hint: error.hint } : {}),
  };
}
