/**
 * A run's folder describes itself: `run.json` (this summary, rewritten as the run ends), the journal
 * (`journal.jsonl`, every event with its time) and one log per step (`logs/STEP.log`).
 */
import { writeFileAtomically } from "../atomic-write.ts";

// Taken when first needed: a no-op run needs none of it, and loading it costs 2 ms.
const fsp = () => process.getBuiltinModule("node:fs/promises");
const { join } = process.getBuiltinModule("node:path");

/** The run's journal, in its folder. */
export const JOURNAL_FILE = "journal.jsonl";

export type RunState = "running" | "ok" | "failed" | "interrupted";

export interface RunRecord {
  runId: string;
  plan: string;
  planDir: string;
  pid: number;
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
  ms?: number;
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
  const text = await fsp()
    .readFile(join(runDir, "run.json"), "utf8")
    .catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as RunRecord;
  } catch {
    return undefined;
  }
}

/** Every run of the store, newest first. */
export async function listRuns(storeDir: string): Promise<RunRecord[]> {
  const names = await fsp()
    .readdir(runsDir(storeDir))
    .catch(() => [] as string[]);
  const records = await Promise.all(names.map((name) => readRunRecord(join(runsDir(storeDir), name))));
  return records
    .filter((record): record is RunRecord => record !== undefined)
    .sort((a, b) => b.started.localeCompare(a.started) || b.runId.localeCompare(a.runId));
}
