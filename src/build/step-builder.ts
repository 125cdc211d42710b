/**
 * Builds one step of a run: its attempts (each in a fresh work folder, each logged), the sandbox with
 * its timeout, the commit of its output, and what the store remembers about it. A failure is reported
 * (with the log's tail and the kept build folder), never thrown.
 */
import { describeCause, isRootstockError } from "../errors.ts";
import type { Emit } from "../events.ts";
import type { Graph, ResolvedStep } from "../plan/graph.ts";
import { SourceStore } from "../sources/source-store.ts";
import type { OutputStore } from "../store/output-store.ts";
import { type StepHistory, updateStepHistory } from "../store/step-history.ts";
import { StoreLocks } from "../store/store-locks.ts";
import { formatDuration, monotonicMs } from "../units.ts";
import { runSandboxed } from "./run-sandboxed.ts";
import { prepareWorkspace } from "./workspace.ts";

const { closeSync, openSync, writeSync } = process.getBuiltinModule("node:fs");
const { open, rm, rmdir } = process.getBuiltinModule("node:fs/promises");
const { join } = process.getBuiltinModule("node:path");

const TAIL_LINES = 20;

export interface BuilderContext {
  storeDir: string;
  runId: string;
  runDir: string;
  jobs: number;
  emit: Emit;
  outputs: OutputStore;
  histories: Map<string, StepHistory | undefined>;
  signal?: AbortSignal;
}

export class StepBuilder {
  readonly #graph: Graph;
  readonly #context: BuilderContext;
  /** Removals of finished steps' work folders, awaited before the run ends. */
  readonly cleanups: Promise<void>[] = [];
  readonly #sources: SourceStore;
  readonly #locks: StoreLocks;

  constructor(graph: Graph, context: BuilderContext) {
    this.#graph = graph;
    this.#context = context;
    this.#sources = new SourceStore(context.storeDir);
    this.#locks = new StoreLocks(context.storeDir);
  }

  async build(step: ResolvedStep, worker: number): Promise<boolean> {
    const { storeDir, runId, runDir, emit, outputs, signal } = this.#context;
    const plan = this.#graph.plan.name;
    const attempts = step.step.retries + 1;
    const jobs = Math.min(step.step.jobs ?? this.#context.jobs, this.#context.jobs);
    const logPath = join(runDir, "logs", `${step.name}.log`);
    const workDir = join(storeDir, "work", runId, step.name);
    const previous = this.#context.histories.get(step.name);
    await this.#removeStaleWork(previous);
    const logFd = openSync(logPath, "a");
    const history = { plan, step: step.name, key: step.key, inputs: step.inputs, runId, log: logPath };
    const started = monotonicMs();
    let latest = previous;
    let reason = "";
    try {
      for (let attempt = 1; attempt <= attempts; attempt++) {
        writeSync(logFd, `==> rootstock: ${step.name}, attempt ${attempt} of ${attempts}, key ${step.key}\n`);
        emit({
          type: "step:start",
          step: step.name,
          key: step.key,
          attempt,
          attempts,
          jobs,
          worker,
          log: logPath,
          ...(previous?.buildMs === undefined ? {} : { estimateMs: previous.buildMs }),
        });
        latest = updateStepHistory(storeDir, { ...history, status: "running", workDir }, latest);
        let retryable = true;
        try {
          const workspace = await prepareWorkspace(step, workDir, {
            graph: this.#graph,
            storeDir,
            sources: this.#sources,
            runId,
            jobs,
            logFd,
            ...(signal ? { signal } : {}),
          });
          const run = await runSandboxed(workspace.spec, workspace.command, {
            logFd,
            ...(step.step.timeoutMs === undefined ? {} : { timeoutMs: step.step.timeoutMs }),
            ...(signal ? { signal } : {}),
          });
          if (run.code === 0 && !run.timedOut && !run.aborted) {
            retryable = false;
            const committed = await outputs.commit(
              workspace.outDir,
              {
                key: step.key,
                plan,
                step: step.name,
                runId,
                buildMs: Math.round(run.ms),
                inputs: step.inputs,
              },
              signal ? { signal } : {},
            );
            const ms = Math.round(monotonicMs() - started);
            writeSync(logFd, `==> rootstock: ${step.name} done in ${formatDuration(ms)}\n`);
            emit({
              type: "step:done",
              step: step.name,
              key: step.key,
              ms,
              worker,
              bytes: committed.record.bytes,
              files: committed.record.files,
              digest: committed.record.digest.sha256,
            });
            updateStepHistory(storeDir, { ...history, status: "done", buildMs: ms }, latest);
            // Off the critical path: the next step need not wait for this folder to go.
            this.cleanups.push(rm(workDir, { recursive: true, force: true }).catch(() => {}));
            return true;
          }
          reason = run.timedOut
            ? `timed out after ${formatDuration(step.step.timeoutMs ?? 0)}; its processes were killed`
            : run.aborted
              ? "interrupted"
              : run.code !== null
                ? `exited with status ${run.code}`
                : `killed by ${run.signal}`;
        } catch (error) {
          if (signal?.aborted) reason = "interrupted";
          else {
            retryable = false;
            reason = isRootstockError(error) ? error.message : `internal error: ${describeCause(error)}`;
            if (isRootstockError(error)) {
              writeSync(logFd, `==> rootstock: ${error.headline} [${error.code}]\n`);
              if (error.hint) writeSync(logFd, `    hint: ${error.hint}\n`);
            }
            if (!isRootstockError(error) && error instanceof Error && error.stack)
              writeSync(logFd, `${error.stack}\n`);
          }
        }
        const retrying = retryable && attempt < attempts && !signal?.aborted;
        writeSync(
          logFd,
          `==> rootstock: ${step.name}, attempt ${attempt} failed: ${reason}${retrying ? "; retrying" : ""}\n`,
        );
        emit({ type: "step:attempt-failed", step: step.name, attempt, reason, retrying });
        if (!retrying) break;
      }
    } finally {
      closeSync(logFd);
    }
    emit({
      type: "step:failed",
      step: step.name,
      key: step.key,
      ms: Math.round(monotonicMs() - started),
      worker,
      reason,
      log: logPath,
      buildDir: workDir,
      tail: await tail(logPath, TAIL_LINES),
    });
    updateStepHistory(storeDir, { ...history, status: "failed", workDir }, latest);
    return false;
  }

  /** The kept work folder of this step's previous failure goes, unless its run is still alive. */
  async #removeStaleWork(previous: StepHistory | undefined): Promise<void> {
    if (!previous?.workDir || previous.runId === this.#context.runId) return;
    if (await this.#locks.probe(`run:${previous.runId}`)) return;
    await rm(previous.workDir, { recursive: true, force: true });
    await rmdir(join(this.#context.storeDir, "work", previous.runId)).catch(() => {});
  }
}

async function tail(path: string, lines: number): Promise<string[]> {
  const handle = await open(path, "r").catch(() => undefined);
  if (!handle) return [];
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, 16 * 1024);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    return buffer
      .toString("utf8")
      .split("\n")
      .filter((line) => line !== "")
      .slice(-lines);
  } finally {
    await handle.close();
  }
}
