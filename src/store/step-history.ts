/**
 * What the store remembers about each step of a plan between runs: the key and inputs it last had, and
 * those of a few builds before (for `run --explain`), how long it last took to build (for ETAs and the critical path), its latest log (for
 * `rootstock log`) and the build folder of a failed attempt (for `rootstock shell`).
 * One small file per step, replaced whole (written beside, then renamed).
 */
import { writeFileAtomically } from "../atomic-write.ts";
import { isObject, readJsonFile } from "./read-json.ts";

const { mkdirSync } = process.getBuiltinModule("node:fs");
const { isAbsolute, join, normalize } = process.getBuiltinModule("node:path");

/** `interrupted`: stopped by Ctrl-C or SIGTERM; its build folder is kept, as a failed one's. */
export type StepStatus = "running" | "done" | "cached" | "failed" | "interrupted";

/** What --explain compares a step with: a build of it, under its key then. */
export interface StepBuild {
  key: string;
  inputs: Record<string, string>;
  /** Its `definition` input field by field (absent in records written before they were kept). */
  definition?: Record<string, string>;
  status: StepStatus;
  runId: string;
}

/**
 * Builds under other keys kept besides the latest: enough for a few edits undone, or two checkouts
 * of a plan built in turn.
 */
const EARLIER_BUILDS_KEPT = 8;

export interface StepHistory extends StepBuild {
  plan: string;
  step: string;
  /** ISO time of the last change. */
  time: string;
  /** The latest log of a build of this step. */
  log?: string;
  /** The work folder of the latest attempt, while it runs or after it failed. */
  workDir?: string;
  /** Wall time of the latest successful build, whatever its key. */
  buildMs?: number;
  /** Builds before the latest one, under other keys, newest first. */
  earlier?: StepBuild[];
}

export function historyFile(storeDir: string, plan: string, step: string): string {
  // Names become folders of the store: one that is not a single path component is a bug upstream.
  for (const name of [plan, step])
    if (name.includes("/") || name === "." || name === ".." || name === "")
      throw new Error(`not a name for the store's history: ${JSON.stringify(name)}`);
  return join(storeDir, "history", plan, `${step}.json`);
}

/** A run id read back from a store file names a folder of runs/: one plain path component. */
export function isRunFolderName(runId: unknown): runId is string {
  return typeof runId === "string" && /^[\w.-]+$/.test(runId) && !/^\.+$/.test(runId);
}

export async function readStepHistory(
  storeDir: string,
  plan: string,
  step: string,
): Promise<StepHistory | undefined> {
  const read = await readJsonFile(historyFile(storeDir, plan, step));
  // A record damaged or edited by hand is not followed: a run id names a folder, so it must be one.
  if (!isObject(read) || typeof read.runId !== "string") return undefined;
  const history = read as unknown as StepHistory;
  if (!isRunFolderName(history.runId) || !isObject(history.inputs)) return undefined;
  const earlier = Array.isArray(history.earlier) ? history.earlier : [];
  history.earlier = earlier.filter(
    (build: unknown) =>
      isObject(build) &&
      typeof build.key === "string" &&
      typeof build.runId === "string" &&
      typeof build.status === "string" &&
      isObject(build.inputs) &&
      (build.definition === undefined || isObject(build.definition)),
  );
  // Paths in the store are kept relative to it, so that a store copied or moved keeps its logs. A log is
  // only ever in runs/, a build folder only in work/ (its removal must never reach an entry).
  const shapes = { log: ["runs", "*", "logs", "*"], workDir: ["work", "*", "*"] } as const;
  for (const field of ["log", "workDir"] as const) {
    const path = history[field];
    const full = typeof path !== "string" ? "" : isAbsolute(path) ? normalize(path) : join(storeDir, path);
    const parts = full.startsWith(`${storeDir}/`) ? full.slice(storeDir.length + 1).split("/") : [];
    const shape = shapes[field];
    const fits =
      parts.length === shape.length &&
      parts.every(
        (part, index) => part !== ".." && part !== "" && (shape[index] === "*" || shape[index] === part),
      );
    if (fits) history[field] = full;
    else delete history[field];
  }
  return history;
}

function buildOf({ key, inputs, definition, status, runId }: StepBuild): StepBuild {
  return { key, inputs, ...(definition === undefined ? {} : { definition }), status, runId };
}

function inStore(storeDir: string, path: string | undefined): string | undefined {
  return path?.startsWith(`${storeDir}/`) ? path.slice(storeDir.length + 1) : path;
}

/**
 * Records a new state, keeping what the update does not mention (such as the last build time).
 * `latest` is the step's record as last read or written (undefined: it has none); the caller has it at
 * hand, so nothing is read again. Synchronous: a folder and one small file, twice per built step.
 */
export function updateStepHistory(
  storeDir: string,
  update: Omit<StepHistory, "time">,
  latest: StepHistory | undefined,
): StepHistory {
  const earlier =
    latest === undefined
      ? []
      : latest.key === update.key
        ? (latest.earlier ?? [])
        : [buildOf(latest), ...(latest.earlier ?? [])];
  const next: StepHistory = {
    ...(latest?.buildMs === undefined ? {} : { buildMs: latest.buildMs }),
    ...(latest?.log === undefined ? {} : { log: latest.log }),
    ...update,
    earlier: earlier.filter((build) => build.key !== update.key).slice(0, EARLIER_BUILDS_KEPT),
    time: new Date().toISOString(),
  };
  const stored = { ...next };
  const log = inStore(storeDir, next.log);
  const workDir = inStore(storeDir, next.workDir);
  if (log !== undefined) stored.log = log;
  if (workDir !== undefined) stored.workDir = workDir;
  mkdirSync(join(storeDir, "history", update.plan), { recursive: true });
  writeFileAtomically(
    historyFile(storeDir, update.plan, update.step),
    `${JSON.stringify(stored, null, 2)}\n`,
  );
  return next;
}
