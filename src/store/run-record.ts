/**
 * A run's folder describes itself: `run.json` (this summary, rewritten as the run ends), the journal
 * (`journal.jsonl`, every event with its time) and one log per step (`logs/STEP.log`).
 *
 * `run.json` also says whether the run is still going on: it names its process by pid and by when,
 * in which boot, that process started. A pid alone is reused; the three together name one process
 * for ever, and /proc says whether it still runs. Like the abstract-socket locks (store-locks.ts), this
 * holds among processes that share one /proc: a run in another PID namespace looks finished.
 */
import { writeFileAtomically } from "../atomic-write.ts";
import type { RunError } from "../events.ts";

const { readFileSync } = process.getBuiltinModule("node:fs");
const { join } = process.getBuiltinModule("node:path");

/** The run's journal, in its folder. */
export const JOURNAL_FILE = "journal.jsonl";

export type RunState = "running" | "ok" | "failed" | "interrupted";

export interface RunRecord {
  runId: string;
  plan: string;
  planDir: string;
  pid: number;
  /** Which process `pid` is: its boot and start time (see `processStart`); absent in older records. */
  processStart?: string;
  /** ISO times. */
  started: string;
  finished?: string;
  state: RunState;
  jobs: number;
  /** Every step of the run with its key: the entries this run uses or makes (gc keeps them). */
  keys: Record<string, string>;
  built: string[];
  cached: string[];
  failed: string[];
  skipped: string[];
  /** Steps that Ctrl-C or SIGTERM stopped while they were built. */
  interrupted?: string[];
  ms?: number;
  /** What stopped the run besides its steps (a source that could not be fetched). */
  error?: RunError;
}

let thisBoot: string | undefined;

/**
 * The boot and the moment within it (in clock ticks) at which the process `pid` started, or undefined
 * when there is no such process, or only its zombie (killed, not yet reaped by its parent).
 */
export function processStart(pid: number): string | undefined {
  try {
    thisBoot ??= readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 2, the command name, may hold spaces and parentheses; the fields after its last ")" do not:
    // the state (field 3) comes first, the start time (field 22) 19 fields later.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const [state, startTicks] = [fields[0], fields[19]];
    if (state === "Z" || state === "X" || startTicks === undefined) return undefined;
    return `${thisBoot}/${startTicks}`;
  } catch {
    return undefined;
  }
}

/** True while the run's process is alive and has not ended the run. */
export function runIsLive(record: RunRecord): boolean {
  return (
    record.state === "running" &&
    record.processStart !== undefined &&
    processStart(record.pid) === record.processStart
  );
}

/** Whether the run with this id is going on (false when its folder or record is gone). */
export async function runIsLiveById(storeDir: string, runId: string): Promise<boolean> {
  const record = await readRunRecord(join(runsDir(storeDir), runId));
  return record !== undefined && runIsLive(record);
}

export function runsDir(storeDir: string): string {
  return join(storeDir, "runs");
}

/** Sortable by time (to the millisecond), unique across processes: `20250102-030405-678-1a2b3c`. */
export function newRunId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace("T", "-").replace(".", "-").slice(0, 19);
  const random = Math.floor(Math.random() * 0x100_0000)
    .toString(16)
    .padStart(6, "0");
  return `${stamp}-${random}`;
}

/** Synchronous: a small file, written as a run starts and ends. */
export function writeRunRecord(runDir: string, record: RunRecord): void {
  const file = join(runDir, "run.json");
  writeFileAtomically(file, `${JSON.stringify(record, null, 2)}\n`);
}

export async function readRunRecord(runDir: string): Promise<RunRecord | undefined> {
  // Loaded when a record is read: a run that only writes its own never needs it.
  const { isObject, readJsonFile } = await import("./read-json.ts");
  const record = await readJsonFile(join(runDir, "run.json"));
  // A record damaged or edited by hand into another shape is no record, not a crash of gc or runs.
  const whole =
    isObject(record) &&
    typeof record.runId === "string" &&
    typeof record.started === "string" &&
    typeof record.state === "string" &&
    isObject(record.keys);
  return whole ? (record as unknown as RunRecord) : undefined;
}

/** Every run of the store, newest first. */
export async function listRuns(storeDir: string): Promise<RunRecord[]> {
  // Loaded here: a no-op run lists no runs.
  const { listFolder } = await import("./fs-refusal.ts");
  const names = await listFolder(runsDir(storeDir));
  const records = await Promise.all(names.map((name) => readRunRecord(join(runsDir(storeDir), name))));
  return records
    .filter((record): record is RunRecord => record !== undefined)
    .sort((a, b) => b.started.localeCompare(a.started) || b.runId.localeCompare(a.runId));
}
