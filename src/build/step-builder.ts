/**
 * Builds one step of a run: its attempts (each in a fresh work folder, each logged), the sandbox with
 * its timeout, the commit of its output, and what the store remembers about it. A failure is reported
 * (with the log's tail and the kept build folder), never thrown.
 */
import { describeCause, isRootstockError } from "../errors.ts";
import type { Emit } from "../events.ts";
import { definitionParts, type Graph, type ResolvedStep } from "../plan/graph.ts";
import { SourceStore } from "../sources/source-store.ts";
import { fileSystemRefusal } from "../store/fs-refusal.ts";
import { type OutputStore, outputPath } from "../store/output-store.ts";
import { removeTree } from "../store/remove-tree.ts";
import { runIsLiveById } from "../store/run-record.ts";
import { type StepHistory, updateStepHistory } from "../store/step-history.ts";
import { StoreLocks, shellLockName } from "../store/store-locks.ts";
import { formatDuration, monotonicMs } from "../units.ts";
import { type HeldSandbox, holdSandbox, runSandboxed } from "./run-sandboxed.ts";
import { HANDED_FOLDER } from "./sandbox.ts";
import { prepareWorkspace, type Workspace } from "./workspace.ts";

const { closeSync, fstatSync, mkdirSync, openSync, readSync, statSync, writeSync } =
  process.getBuiltinModule("node:fs");
const { open, rm, rmdir } = process.getBuiltinModule("node:fs/promises");
const { join } = process.getBuiltinModule("node:path");

const TAIL_LINES = 20;
/** A few times what setting a sandbox up takes (bwrap's namespaces and mounts, about 5 ms). */
const HOLD_AFTER_MS = 20;

export interface BuilderContext {
  storeDir: string;
  runId: string;
  runDir: string;
  jobs: number;
  emit: Emit;
  outputs: OutputStore;
  histories: Map<string, StepHistory | undefined>;
  /** Called once a step's sandbox has started (its dependents may then be prepared ahead). */
  whileRunning?: (step: ResolvedStep) => void;
  signal?: AbortSignal;
}

/**
 * A first attempt's work folder, prepared while the step's last dependency was still building, and its
 * sandbox, set up and held until the step starts.
 */
interface PreparedAhead {
  logFd: number;
  workspace: Promise<Workspace>;
  /** Set once the sandbox is held; `holding` is the timer until then. */
  held?: Held;
  holding?: NodeJS.Timeout;
  /** Taken by the step, or discarded: no sandbox is held for it any more. */
  done: boolean;
}

interface Held {
  sandbox: HeldSandbox;
  /**
   * The building dependency's output folder as the held sandbox mounted it, before it was committed:
   * usable only if that very folder became the entry (not if the dependency was retried in a new
   * folder, or another run committed the same key first).
   */
  mounted?: { entry: string; dev: number; ino: number };
}

export class StepBuilder {
  readonly #graph: Graph;
  readonly #context: BuilderContext;
  /** Removals of finished steps' work folders, awaited before the run ends. */
  readonly cleanups: Promise<void>[] = [];
  readonly #sources: SourceStore;
  readonly #ahead = new Map<string, PreparedAhead>();

  constructor(graph: Graph, context: BuilderContext) {
    this.#graph = graph;
    this.#context = context;
    this.#sources = new SourceStore(context.storeDir);
    // Closed to other users: a root composed of dependency outputs holds hard links to their files,
    // setuid ones too, and the store entry that holds such a file is closed the same way.
    mkdirSync(join(context.storeDir, "work", context.runId), { recursive: true, mode: 0o700 });
  }

  /**
   * Prepares the first attempt's work folder of a step that waits only for `building` (whose sandbox
   * has started), or, without it, only for a free slot: sources unpacked, files copied, the sandbox
   * described, then set up and held. The step then starts as soon as it may, and a large source unpacks
   * while the step before it still compiles. Not for root = "deps" while a dependency builds: its root
   * is composed of the very outputs it waits for. A failure here is the first attempt's, reported when
   * the step starts.
   */
  prepareAhead(step: ResolvedStep, building?: ResolvedStep): void {
    const { signal } = this.#context;
    if (this.#ahead.has(step.name) || signal?.aborted) return;
    if (step.step.root === "deps" && building) return;
    let logFd: number;
    try {
      logFd = openSync(this.#logPath(step.name), "a+");
    } catch {
      // Not prepared ahead, then: the step's own start meets the same refusal and says it.
      return;
    }
    writeSync(logFd, attemptHeader(step, 1));
    const workspace = this.#prepare(step, logFd);
    workspace.catch(() => {});
    const ahead: PreparedAhead = { logFd, workspace, done: false };
    // Held only if the step still waits a while later: one about to start gains nothing, and the
    // set-up would compete for the processors with the step that is ending.
    workspace.then(
      (prepared) => {
        if (ahead.done) return;
        ahead.holding = setTimeout(() => {
          if (!ahead.done) ahead.held = this.#hold(prepared, building, logFd);
        }, HOLD_AFTER_MS);
      },
      () => {},
    );
    this.#ahead.set(step.name, ahead);
  }

  /**
   * Sets the sandbox up; the building dependency's output folder, if any, is mounted through a handle,
   * which follows the folder when the commit renames it into the store.
   */
  #hold(workspace: Workspace, building: ResolvedStep | undefined, logFd: number): Held | undefined {
    const { spec } = workspace;
    if (spec.kind === "chroot" || this.#context.signal?.aborted) return undefined;
    const entry = building ? outputPath(this.#context.storeDir, building.key) : "";
    if (!building || !spec.binds.some((bind) => bind.from === entry)) {
      return { sandbox: holdSandbox(spec, workspace.command, { logFd }) };
    }
    let folderFd: number;
    try {
      folderFd = openSync(join(this.#workDir(building.name), "out"), "r");
    } catch {
      // Committed already: the step starts as any other.
      return undefined;
    }
    try {
      const { dev, ino } = fstatSync(folderFd);
      const binds = spec.binds.map((bind) => (bind.from === entry ? { ...bind, from: HANDED_FOLDER } : bind));
      const sandbox = holdSandbox({ ...spec, binds }, workspace.command, { logFd, folderFd });
      return { sandbox, mounted: { entry, dev, ino } };
    } finally {
      closeSync(folderFd);
    }
  }

  /** The held sandbox, if it is set up and what it mounted is what was committed; else it is let go. */
  async #releasable(ahead: PreparedAhead): Promise<HeldSandbox | undefined> {
    const { held } = ahead;
    if (!held) return undefined;
    if (!(await held.sandbox.ready)) {
      // Not the step's failure: bwrap finds a dependency's folder by its path, which a commit at that
      // moment renames.
      const why = held.sandbox.setUpMessage();
      logLine(
        ahead.logFd,
        `==> rootstock: the sandbox set up ahead did not start${why ? ` (${why})` : ""}, as when a dependency is committed at that moment; starting a new one\n`,
      );
      await held.sandbox.discard();
      return undefined;
    }
    const { mounted } = held;
    if (mounted) {
      const committed = statSync(mounted.entry, { throwIfNoEntry: false });
      if (committed?.dev !== mounted.dev || committed.ino !== mounted.ino) {
        await held.sandbox.discard();
        return undefined;
      }
    }
    return held.sandbox;
  }

  /**
   * Removes what was prepared for steps that will not start (a dependency failed, the run stopped,
   * another run built the step meanwhile): the named ones, or all that are left.
   */
  async discardPrepared(names?: readonly string[]): Promise<void> {
    const left = [...this.#ahead].filter(([name]) => names === undefined || names.includes(name));
    for (const [name, ahead] of left) {
      this.#ahead.delete(name);
      ahead.done = true;
      clearTimeout(ahead.holding);
    }
    await Promise.all(
      left.map(async ([name, { logFd, workspace, held }]) => {
        await workspace.catch(() => {});
        await held?.sandbox.discard();
        closeSync(logFd);
        // What cannot go is left to gc, which reports it.
        await removeTree(this.#workDir(name)).catch(() => {});
        await rm(this.#logPath(name), { force: true });
      }),
    );
  }

  async build(step: ResolvedStep, worker: number): Promise<boolean> {
    const { storeDir, runId, emit, outputs, signal } = this.#context;
    const plan = this.#graph.plan.name;
    const attempts = step.step.retries + 1;
    const jobs = this.#jobsOf(step);
    const logPath = this.#logPath(step.name);
    const workDir = this.#workDir(step.name);
    const previous = this.#context.histories.get(step.name);
    // A kept folder that cannot go fails the first attempt, which says so, instead of the step unseen.
    const stale = await this.#removeStaleWork(previous).then(
      () => undefined,
      (error: unknown) => error,
    );
    const ahead = this.#ahead.get(step.name);
    this.#ahead.delete(step.name);
    if (ahead) {
      ahead.done = true;
      clearTimeout(ahead.holding);
    }
    let logFd: number;
    try {
      logFd = ahead?.logFd ?? openSync(logPath, "a+");
    } catch (caught) {
      // No log to open (no file descriptor left, a full store): the step fails saying why, not unseen.
      const error = fileSystemRefusal(caught, storeDir) ?? caught;
      const reason = isRootstockError(error) ? error.message : `internal error: ${describeCause(error)}`;
      emit({
        type: "step:start",
        step: step.name,
        key: step.key,
        attempt: 1,
        attempts,
        jobs,
        worker,
        log: logPath,
      });
      emit({
        type: "step:failed",
        step: step.name,
        key: step.key,
        ms: 0,
        worker,
        reason,
        log: logPath,
        buildDir: workDir,
        tail: [],
        noSandbox: true,
      });
      return false;
    }
    const history = {
      plan,
      step: step.name,
      key: step.key,
      inputs: step.inputs,
      definition: definitionParts(step),
      runId,
      log: logPath,
    };
    const started = monotonicMs();
    let latest = previous;
    let reason = "";
    // Whether the last attempt got as far as a sandbox, which `rootstock shell` can enter again.
    let sandboxed = false;
    try {
      for (let attempt = 1; attempt <= attempts; attempt++) {
        if (attempt > 1 || !ahead) logLine(logFd, attemptHeader(step, attempt));
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
        let retryable = true;
        sandboxed = false;
        try {
          if (attempt === 1 && stale !== undefined) {
            await ahead?.held?.sandbox.discard();
            throw stale;
          }
          // The attempt before may have left folders its owner cannot open (chmod 000).
          if (attempt > 1) await removeTree(workDir);
          const workspace = await (attempt === 1 && ahead ? ahead.workspace : this.#prepare(step, logFd));
          sandboxed = true;
          const held = attempt === 1 && ahead ? await this.#releasable(ahead) : undefined;
          const limits = {
            ...(step.step.timeoutMs === undefined ? {} : { timeoutMs: step.step.timeoutMs }),
            ...(signal ? { signal } : {}),
          };
          // The sandbox has started once runSandboxed returns (a chroot's only after its root is ready).
          const running = held
            ? held.release(limits)
            : runSandboxed(workspace.spec, workspace.command, { logFd, ...limits });
          // Recorded while the sandbox starts, not before: the record is for a later run or shell, and
          // writing it costs as much as a sandbox's start-up, which it now overlaps.
          latest = updateStepHistory(storeDir, { ...history, status: "running", workDir }, latest);
          this.#context.whileRunning?.(step);
          const run = await running;
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
            logLine(logFd, `==> rootstock: ${step.name} done in ${formatDuration(ms)}\n`);
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
            // Once the next step's sandbox has started, which happens in this same turn of the event loop.
            // The step is committed: a record that cannot be written costs only an estimate next time.
            const recorded = latest;
            this.cleanups.push(
              new Promise((resolve) =>
                setImmediate(() => {
                  try {
                    updateStepHistory(storeDir, { ...history, status: "done", buildMs: ms }, recorded);
                  } catch {}
                  resolve();
                }),
              ),
            );
            // Off the critical path: the next step need not wait for this folder to go.
            // What cannot go is left to gc, which reports it.
            this.cleanups.push(removeTree(workDir).catch(() => {}));
            return true;
          }
          reason = run.timedOut
            ? `timed out after ${formatDuration(step.step.timeoutMs ?? 0)}; its processes were killed`
            : run.aborted
              ? "interrupted"
              : run.code !== null
                ? `exited with status ${run.code}${statusSignal(run.code)}`
                : run.signal === "SIGXFSZ"
                  ? `killed by SIGXFSZ: ${FILE_SIZE_LIMIT}`
                  : `killed by ${run.signal}`;
        } catch (caught) {
          if (signal?.aborted) reason = "interrupted";
          else {
            retryable = false;
            // A full or read-only store is the store's state, told as such, not a bug with a stack.
            const error = fileSystemRefusal(caught, storeDir) ?? caught;
            reason = isRootstockError(error) ? error.message : `internal error: ${describeCause(error)}`;
            if (isRootstockError(error)) {
              logLine(logFd, `==> rootstock: ${error.headline} [${error.code}]\n`);
              if (error.hint) logLine(logFd, `    hint: ${error.hint}\n`);
            }
            if (!isRootstockError(error) && error instanceof Error && error.stack)
              logLine(logFd, `${error.stack}\n`);
          }
        }
        const retrying = retryable && attempt < attempts && !signal?.aborted;
        logLine(
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
      ...(reason === "interrupted" ? { interrupted: true as const } : {}),
      ...(sandboxed ? {} : { noSandbox: true as const }),
    });
    try {
      const status = reason === "interrupted" ? "interrupted" : "failed";
      updateStepHistory(storeDir, { ...history, status, workDir }, latest);
    } catch {
      // The step failed either way (on a full disk, most likely for that very reason); the record only
      // helps `shell` find its folder, which the run's failure already names.
    }
    return false;
  }

  #prepare(step: ResolvedStep, logFd: number): Promise<Workspace> {
    const { storeDir, runId, signal } = this.#context;
    return prepareWorkspace(step, this.#workDir(step.name), {
      graph: this.#graph,
      storeDir,
      sources: this.#sources,
      runId,
      jobs: this.#jobsOf(step),
      logFd,
      ...(signal ? { signal } : {}),
    });
  }

  #jobsOf(step: ResolvedStep): number {
    return Math.min(step.step.jobs ?? this.#context.jobs, this.#context.jobs);
  }

  #logPath(name: string): string {
    return join(this.#context.runDir, "logs", `${name}.log`);
  }

  #workDir(name: string): string {
    return join(this.#context.storeDir, "work", this.#context.runId, name);
  }

  /**
   * The kept work folder of this step's previous failure goes, unless its run is still alive; a folder
   * that cannot go throws ERR_STORE_REMOVE_FAILED.
   */
  async #removeStaleWork(previous: StepHistory | undefined): Promise<void> {
    if (!previous?.workDir || previous.runId === this.#context.runId) return;
    if (await runIsLiveById(this.#context.storeDir, previous.runId)) return;
    // A person is working in it with `rootstock shell`: it stays (this build uses a folder of its own).
    if (await new StoreLocks(this.#context.storeDir).probe(shellLockName(previous.workDir))) return;
    await removeTree(previous.workDir);
    await rmdir(join(this.#context.storeDir, "work", previous.runId)).catch(() => {});
  }
}

/**
 * A line of rootstock's own in a step's log, on a line of its own: a build's last output may lack its
 * newline, and `==> rootstock:` must start a line to be found.
 */
function logLine(fd: number, text: string): void {
  // A log that cannot take more (the file-size limit, a full disk) must not hide why the step failed:
  // that is told by its events all the same.
  try {
    const size = fstatSync(fd).size;
    const last = Buffer.alloc(1);
    if (size > 0 && readSync(fd, last, 0, 1, size - 1) === 1 && last[0] !== 0x0a) writeSync(fd, "\n");
    writeSync(fd, text);
  } catch {
    // Said by the step:attempt-failed and step:failed events.
  }
}

const FILE_SIZE_LIMIT = "a file it wrote (or its log) reached the file-size limit (`ulimit -f`)";

/** A shell's status 128+N: a command of it was killed by signal N, named where it says something. */
function statusSignal(code: number): string {
  if (code === 128 + 25) return ` (a command of it was killed by SIGXFSZ: ${FILE_SIZE_LIMIT})`;
  return "";
}

function attemptHeader(step: ResolvedStep, attempt: number): string {
  return `==> rootstock: ${step.name}, attempt ${attempt} of ${step.step.retries + 1}, key ${step.key}\n`;
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
