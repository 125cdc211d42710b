/**
 * Builds a resolved plan: every step whose key is not in the output store runs in its sandbox, at most
 * `jobs` at once, longest critical path first; its output is committed under its key. A run leaves a
 * self-describing folder: `runs/RUN/run.json`, `journal.jsonl` (every event, timed) and `logs/STEP.log`.
 *
 * Two runs may share a store: each key is built under a lock, so a step is never built twice, and a run
 * that finds a key locked works on other steps meanwhile. A killed run leaves no partial entry, and the
 * next run carries on from what was committed.
 */
import { RootstockError, RootstockErrors } from "../errors.ts";
import type { Emit } from "../events.ts";
import { identifyTools, type ToolIdentity } from "../host/tools.ts";
import { definitionParts, type Graph, type ResolvedStep, usesHostTools } from "../plan/graph.ts";
import type { SourceRequest } from "../sources/fetch-sources.ts";
import { OutputStore } from "../store/output-store.ts";
import type { StepHistory } from "../store/step-history.ts";
import type { StoreLocks } from "../store/store-locks.ts";
import { inlineName, monotonicMs } from "../units.ts";
import { RunSession } from "./run-session.ts";
import type { ScheduleNode, ScheduleResult, Skipped, TaskResult } from "./schedule.ts";

const { accessSync, constants, mkdirSync, realpathSync, rmdirSync, rmSync, writeFileSync } =
  process.getBuiltinModule("node:fs");
const { availableParallelism } = process.getBuiltinModule("node:os");
const { join } = process.getBuiltinModule("node:path");

export interface RunPlanOptions {
  /** The options the command was given, for the report's command line. */
  commandOptions?: readonly string[];
  storeDir: string;
  /** Steps built at once (default: the number of cores). */
  jobs?: number;
  /** Build everything that does not depend on a failure (default: stop starting steps at the first). */
  keepGoing?: boolean;
  emit?: Emit;
  signal?: AbortSignal;
  /** Say for each step why it runs or is skipped (`step:explain` events). */
  explain?: boolean;
  /** Explain only: build nothing, create no run folder. */
  dryRun?: boolean;
  /** Host tool identities already found (openPlan's), recorded in the journal; found again if absent. */
  tools?: ReadonlyMap<string, ToolIdentity | undefined>;
  /** The run this build is part of (`rootstock test` adds images and tests); default: a run of its own. */
  session?: RunSession;
  /** Sources missing from the store are fetched unless offline (then they are listed in one error). */
  offline?: boolean;
  /** Mirrors tried first when fetching (folders or URLs). */
  mirrors?: readonly string[];
  /** The steps the command named (the graph is already cut to them), for the run's record. */
  targets?: readonly string[];
}

export interface StepOutput {
  key: string;
  /** The output tree: `outputPath(storeDir, key)`. */
  path: string;
}

export interface RunResult {
  runId: string;
  runDir: string;
  ok: boolean;
  /** Every step of the graph whose entry is in the store at the end. */
  outputs: Map<string, StepOutput>;
  built: string[];
  cached: string[];
  failed: string[];
  skipped: Skipped[];
}

/** Critical-path weight of a step never built before. */
const UNKNOWN_ESTIMATE_MS = 1000;

export async function runPlan(graph: Graph, options: RunPlanOptions): Promise<RunResult> {
  const { storeDir, signal } = options;
  if (options.jobs !== undefined && !(Number.isSafeInteger(options.jobs) && options.jobs >= 1))
    throw new RootstockError(
      "ERR_RUN_BAD_JOBS",
      `jobs must be a whole number of at least 1, not ${options.jobs}`,
      {
        hint: "leave jobs out to build as many steps at once as there are cores",
      },
    );
  const jobs = options.jobs ?? availableParallelism();
  const plan = graph.plan;
  checkRunnable(graph);
  const outputs = new OutputStore(storeDir);
  // Registered (live, keys listed) before any entry is looked at, so that gc spares them.
  const ownSession = !options.dryRun && options.session === undefined;
  const tools = options.tools ?? (await identifyTools(hostToolNames(graph)));
  const session: RunSession | undefined =
    options.session ??
    (options.dryRun
      ? undefined
      : await RunSession.open(graph, {
          storeDir,
          jobs,
          tools,
          ...(options.targets ? { targets: options.targets } : {}),
          ...(options.commandOptions ? { options: options.commandOptions } : {}),
          ...(options.emit ? { emit: options.emit } : {}),
        }));
  const runId = session?.runId ?? "";
  const runDir = session?.runDir ?? "";
  const record = session?.record;
  const emit: Emit = session?.emit ?? options.emit ?? (() => {});

  const started = monotonicMs();
  // This call's own work: a session may hold several builds (an image's, then a test's), and run.json
  // lists each step once, by the first thing that became of it.
  const built: string[] = [];
  const cached: string[] = [];
  const shared = !ownSession && record !== undefined;
  const noteBuilt = (name: string) => {
    built.push(name);
    if (!shared || !record.built.includes(name)) record?.built.push(name);
  };
  const noteCached = (name: string) => {
    cached.push(name);
    if (!shared || !(record.built.includes(name) || record.cached.includes(name))) record?.cached.push(name);
  };
  try {
    // Synchronous: hundreds of stat calls cost less without the thread pool.
    const present = graph.steps.map((step) => outputs.hasSync(step.key));
    const toBuild = graph.steps.filter((_, index) => !present[index]);
    const cachedAtStart = graph.steps.filter((_, index) => present[index]);
    const histories = new Map<string, StepHistory | undefined>();
    const needHistory = options.explain || options.dryRun ? graph.steps : toBuild;
    if (needHistory.length > 0) {
      const { readStepHistory } = await import("../store/step-history.ts");
      await Promise.all(
        needHistory.map(async (step) =>
          histories.set(step.name, await readStepHistory(storeDir, plan.name, step.name)),
        ),
      );
    }

    const explain = async () => {
      const { explainRebuild } = await import("./explain.ts");
      for (const [index, step] of graph.steps.entries()) {
        const reason = present[index]
          ? ({ kind: "cached" } as const)
          : explainRebuild(step, histories.get(step.name));
        emit({ type: "step:explain", step: step.name, key: step.key, runs: !present[index], reason });
      }
    };
    if (options.dryRun) {
      await explain();
      for (const disabled of graph.disabled)
        emit({
          type: "step:skipped",
          step: disabled.name,
          because: `when = ${JSON.stringify(disabled.when)} is false`,
        });
      // A run would refuse these; so does its rehearsal, after saying what it would do.
      await checkToolsPresent(toBuild, tools, plan);
      const { checkStoredSizes } = await import("../sources/fetch-sources.ts");
      await checkStoredSizes(sourcesOf(toBuild), { storeDir, ...(signal ? { signal } : {}) });
      return {
        runId,
        runDir,
        ok: true,
        outputs: outputMap(cachedAtStart, outputs),
        built: [],
        cached: cachedAtStart.map((step) => step.name),
        failed: [],
        skipped: [],
      };
    }

    await checkToolsPresent(toBuild, tools, plan);
    // Fetching, building and scheduling load only when there is something to build: a no-op run is mostly
    // start-up.
    const building = toBuild.length > 0 ? await loadBuilding() : undefined;
    if (building) checkStoreRunsPrograms(storeDir);
    const fetched = await building?.fetchSources(sourcesOf(toBuild), {
      storeDir,
      offline: options.offline ?? false,
      emit,
      ...(options.mirrors ? { mirrors: options.mirrors } : {}),
      ...(signal ? { signal } : {}),
      ...(options.keepGoing ? { keepGoing: true } : {}),
    });
    // With --keep-going, a step whose source could not be had fails, and what does not need it is built.
    const unobtainable = new Map<string, RootstockError>();
    for (const { sources, error } of fetched?.unavailable ?? [])
      for (const source of sources) for (const name of source.steps ?? []) unobtainable.set(name, error);

    emit({ type: "run:start", runId, plan: plan.name, runDir, steps: graph.steps.map((s) => s.name), jobs });
    // Under the run's header, before its steps.
    if (options.explain) await explain();
    for (const disabled of graph.disabled)
      emit({
        type: "step:skipped",
        step: disabled.name,
        because: `when = ${JSON.stringify(disabled.when)} is false`,
      });
    for (const step of cachedAtStart) {
      emit({ type: "step:cached", step: step.name, key: step.key });
      noteCached(step.name);
    }

    const known = [...histories.values()].flatMap((history) =>
      history?.buildMs === undefined ? [] : [history.buildMs],
    );
    const fallbackEstimate = known.length > 0 ? median(known) : UNKNOWN_ESTIMATE_MS;
    const nodes: ScheduleNode[] = toBuild.map((step) => ({
      name: step.name,
      deps: step.step.deps,
      estimateMs: histories.get(step.name)?.buildMs ?? fallbackEstimate,
    }));
    const unbuilt = new Set(toBuild.map((step) => step.name));
    emit({
      type: "run:schedule",
      jobs,
      ...(options.keepGoing ? { keepGoing: true as const } : {}),
      steps: toBuild.map((step) => {
        const estimateMs = histories.get(step.name)?.buildMs;
        // Those it waits for in this run: what the ETA must follow one after another.
        const deps = step.step.deps.filter((dep) => unbuilt.has(dep));
        return {
          step: step.name,
          ...(estimateMs === undefined ? {} : { estimateMs }),
          ...(deps.length === 0 ? {} : { deps }),
        };
      }),
    });
    const byName = graph.byName;

    // While a step runs, the steps it is the last unfinished dependency of are prepared (at most as
    // many as run at once), so that each starts as soon as that step is committed.
    const unfinished = new Set(toBuild.map((step) => step.name));
    const dependents = new Map<string, ResolvedStep[]>();
    for (const step of toBuild) {
      for (const dep of step.step.deps) {
        if (unfinished.has(dep)) dependents.set(dep, [...(dependents.get(dep) ?? []), step]);
      }
    }
    // Called only once the builder below exists: a step must be building for it to be called.
    const whileRunning = (running: ResolvedStep) => {
      const next = (dependents.get(running.name) ?? []).filter((step) =>
        step.step.deps.every((dep) => dep === running.name || !unfinished.has(dep)),
      );
      for (const step of next.slice(0, jobs)) builder?.prepareAhead(step, running);
    };
    // Steps that wait only for a free slot are prepared too: as many as can start next.
    const whileWaiting = (waiting: readonly string[]) => {
      for (const name of waiting.slice(0, jobs)) builder?.prepareAhead(byName.get(name) as ResolvedStep);
    };
    const builder =
      building &&
      new building.StepBuilder(graph, {
        storeDir,
        runId,
        runDir,
        jobs,
        emit,
        outputs,
        histories,
        whileRunning,
        ...(signal ? { signal } : {}),
      });
    // Keys are locked only when something is built: a no-op run loads no lock code.
    const taskUnder =
      (locks: StoreLocks) =>
      async (name: string, { slot }: { slot: number }): Promise<TaskResult> => {
        const step = byName.get(name) as ResolvedStep;
        const missing = unobtainable.get(name);
        if (missing) {
          // Set up ahead, perhaps, as a step waiting for a slot: that folder and its log go first.
          await builder?.discardPrepared([name]);
          await failWithoutSource(step, missing, slot);
          return "failed";
        }
        const holder = { runId, pid: process.pid, what: `${plan.name}/${name}` };
        const lock = await locks.tryAcquire(`key:${step.key}`, holder);
        if (!lock) {
          const other = await locks.probe(`key:${step.key}`, signal);
          // No holder by now: the other run let go in between, and the step is tried again at once.
          if (other)
            emit({
              type: "step:waiting",
              step: name,
              key: step.key,
              reason: other.silent
                ? other.what
                : `another run (${other.runId}, pid ${other.pid}) is building it`,
            });
          return { retryAfter: locks.waitFree(`key:${step.key}`, signal) };
        }
        try {
          if (await outputs.has(step.key)) {
            await builder?.discardPrepared([name]);
            emit({ type: "step:cached", step: name, key: step.key });
            noteCached(name);
            unfinished.delete(name);
            return "done";
          }
          let ok = false;
          try {
            ok = (await builder?.build(step, slot)) ?? false;
          } catch (error) {
            // Counted as failed in run.json too, as the scheduler counts it.
            record?.failed.push(name);
            throw error;
          }
          const outcome = ok ? "done" : signal?.aborted ? "interrupted" : "failed";
          if (outcome === "done") noteBuilt(name);
          else if (outcome === "failed") record?.failed.push(name);
          // A failed step stays unfinished: what waits for it is not prepared, only to be skipped.
          if (ok) unfinished.delete(name);
          return outcome;
        } finally {
          await lock.release();
        }
      };
    /**
     * A task that throws before its step could say why (its lock, its log, no file descriptor left) fails
     * saying so: the scheduler only counts it, and the step would fail unseen ("not run").
     */
    const toldWhenThrown =
      (task: ReturnType<typeof taskUnder>) =>
      async (name: string, slot: { slot: number }): Promise<TaskResult> => {
        try {
          return await task(name, slot);
        } catch (caught) {
          if (signal?.aborted) throw caught;
          const { fileSystemRefusal } = await import("../store/fs-refusal.ts");
          const error = fileSystemRefusal(caught, storeDir) ?? caught;
          const step = byName.get(name) as ResolvedStep;
          emit({
            type: "step:failed",
            step: name,
            key: step.key,
            ms: 0,
            worker: slot.slot,
            reason: error instanceof RootstockError ? error.message : `internal error: ${String(error)}`,
            log: join(runDir, "logs", `${name}.log`),
            tail: [],
            noSandbox: true,
          });
          if (!record?.failed.includes(name)) record?.failed.push(name);
          return "failed";
        }
      };
    /** A step whose source could not be had: its log says why, as the fetch did. */
    const failWithoutSource = async (step: ResolvedStep, error: RootstockError, worker: number) => {
      const lines = error.message.split("\n");
      const log = join(runDir, "logs", `${step.name}.log`);
      writeFileSync(log, `==> rootstock: a source of ${step.name} could not be obtained\n${error.message}\n`);
      // Its latest log, for `rootstock log`; no build folder, for `rootstock shell` to say so.
      const { updateStepHistory } = await import("../store/step-history.ts");
      const { name, key, inputs } = step;
      const definition = definitionParts(step);
      const entry = {
        plan: plan.name,
        step: name,
        key,
        inputs,
        definition,
        runId,
        log,
        status: "failed" as const,
      };
      updateStepHistory(storeDir, entry, histories.get(name));
      emit({
        type: "step:failed",
        step: step.name,
        key: step.key,
        ms: 0,
        worker,
        reason: `a source could not be obtained: ${lines[0]}`,
        log,
        tail: lines.slice(1).map((line) => line.trim()),
        noSandbox: true,
      });
      record?.failed.push(step.name);
    };
    const result: ScheduleResult = building
      ? await building
          .schedule(nodes, toldWhenThrown(taskUnder(new building.StoreLocks(storeDir))), {
            jobs,
            keepGoing: options.keepGoing ?? false,
            onWaiting: whileWaiting,
            ...(signal ? { signal } : {}),
          })
          .finally(() => builder?.discardPrepared())
      : { done: [], failed: [], interrupted: [], skipped: [] };
    await Promise.all(builder?.cleanups ?? []);
    for (const skip of result.skipped) emit({ type: "step:skipped", step: skip.name, because: skip.because });
    if (record) {
      record.skipped = result.skipped.map((skip) => skip.name);
      if (result.interrupted.length > 0) record.interrupted = [...result.interrupted];
    }

    // A Ctrl-C that came after the last step was committed stopped nothing: the run is whole.
    const ok = result.failed.length === 0 && result.skipped.length === 0 && result.interrupted.length === 0;
    const interrupted = !ok && (signal?.aborted ?? false);
    const ms = monotonicMs() - started;
    emit({
      type: "run:done",
      runId,
      ok,
      built: built.length,
      cached: cached.length,
      failed: result.failed,
      ...(interrupted ? { interrupted: result.interrupted } : {}),
      ms,
    });
    try {
      rmdirSync(join(storeDir, "work", runId));
    } catch {
      // Absent (nothing was built), or kept for a failed step's build folder.
    }
    const inStore = new Set([...cached, ...built]);
    const finalOutputs = outputMap(
      graph.steps.filter((step) => inStore.has(step.name)),
      outputs,
    );
    if (ownSession) await session?.close({ ok, interrupted });
    return {
      runId,
      runDir,
      ok,
      outputs: finalOutputs,
      built,
      cached,
      failed: result.failed,
      skipped: result.skipped,
    };
  } catch (error) {
    if (ownSession && session) await session.closeWithError(error, signal?.aborted ?? false);
    throw error;
  }
}

async function loadBuilding() {
  const [{ fetchSources }, { StepBuilder }, { schedule }, { StoreLocks }] = await Promise.all([
    import("../sources/fetch-sources.ts"),
    import("./step-builder.ts"),
    import("./schedule.ts"),
    import("../store/store-locks.ts"),
  ]);
  return { fetchSources, StepBuilder, schedule, StoreLocks };
}

function outputMap(steps: readonly ResolvedStep[], outputs: OutputStore): Map<string, StepOutput> {
  return new Map(steps.map((step) => [step.name, { key: step.key, path: outputs.outputPath(step.key) }]));
}

/**
 * Steps run programs from their build folder (./configure) and from the outputs of their deps, all in the
 * store: on a filesystem mounted noexec, `[ -x ./configure ]` is false and a build fails far from the cause.
 */
function checkStoreRunsPrograms(storeDir: string): void {
  const tmp = join(storeDir, "tmp");
  mkdirSync(tmp, { recursive: true });
  const probe = join(tmp, `exec-probe.${process.pid}`);
  writeFileSync(probe, "#!/bin/sh\n", { mode: 0o755 });
  try {
    accessSync(probe, constants.X_OK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EACCES") throw error;
    throw new RootstockError(
      "ERR_STORE_NOEXEC",
      `the store ${storeDir} is on a filesystem mounted noexec, and steps run programs from it (their build folders and their deps' outputs)`,
      { hint: "use a store on another filesystem (--store DIR), or remount this one without noexec" },
    );
  } finally {
    rmSync(probe, { force: true });
  }
}

/** What this host must offer for the plan's steps to run at all (the plan itself was checked on load). */
function checkRunnable(graph: Graph): void {
  const problems: RootstockError[] = [];
  const isRoot = process.getuid?.() === 0;
  for (const { name, step } of graph.steps) {
    if (step.sandbox === "chroot" && !isRoot) {
      problems.push(
        new RootstockError("ERR_SANDBOX_NEEDS_ROOT", `step "${name}": sandbox = "chroot" needs root`, {
          file: join(graph.plan.displayDir, step.dir, "step.toml"),
          field: "sandbox",
          hint: 'run rootstock as root, or use sandbox = "bwrap", which needs no privileges',
        }),
      );
    }
  }
  if (problems.length > 0)
    throw new RootstockErrors(
      "ERR_PLAN_NOT_RUNNABLE",
      `plan ${inlineName(graph.plan.displayDir)} cannot run here`,
      problems,
    );
}

/**
 * A step to build whose declared host tools would not be the ones its key names is refused before
 * anything runs: one the host lacks (its key would say "missing"); one a sandboxed step cannot reach (a
 * link that leads out of /usr, to /opt); one its own [env] PATH finds elsewhere than rootstock's PATH for
 * steps, where tools are identified.
 */
async function checkToolsPresent(
  toBuild: readonly ResolvedStep[],
  tools: ReadonlyMap<string, ToolIdentity | undefined>,
  plan: Graph["plan"],
): Promise<void> {
  const problems: RootstockError[] = [];
  let words: ((word: string) => string) | undefined;
  let findOnPath: typeof import("../host/tools.ts").findOnPath | undefined;
  let outOfSandbox: typeof import("../host/sandbox-reach.ts").outOfSandbox | undefined;
  for (const { name, step, env } of toBuild) {
    if (!usesHostTools(step)) continue;
    for (const tool of step.tools) {
      if (!tools.has(tool)) continue;
      const identity = tools.get(tool);
      const inPlan = plan.hostTools.includes(tool);
      const where = {
        file: join(plan.displayDir, inPlan ? "plan.toml" : join(step.dir, "step.toml")),
        field: inPlan ? "host.tools" : "tools",
      };
      // Loaded only for a refusal or a PATH of the step's own: a no-op run never needs them.
      words ??= (await import("../units.ts")).pathWord;
      if (identity === undefined) {
        // doctor --install installs what a known package provides; anything else is installed by hand.
        const { installablePackage } = await import("../host/doctor.ts");
        const { STEP_PATH, whyNotFound } = await import("../host/tools.ts");
        const known = await installablePackage(tool);
        const near = whyNotFound(tool, STEP_PATH);
        problems.push(
          new RootstockError(
            "ERR_HOST_TOOL_MISSING",
            `step "${name}" needs ${tool}, which is not on this host's PATH for steps (/usr/local/bin, /usr/bin, /bin, /usr/sbin, /sbin)${near ? `: ${near}` : ""}`,
            {
              ...where,
              hint: near
                ? `what is there is in the way: fix it (or remove it) and install ${tool}, or remove it from the tools`
                : known === undefined
                  ? `install it (rootstock knows no Debian package for it: \`apt-file search bin/${tool}\` finds one, once \`apt-get install apt-file && apt-file update\` has run), or remove it from the tools`
                  : `install it (\`rootstock doctor ${words(plan.displayDir)} --install\` as root installs ${known}), or remove it from the tools`,
            },
          ),
        );
        continue;
      }
      outOfSandbox ??= (await import("../host/sandbox-reach.ts")).outOfSandbox;
      const outside = step.sandbox === "host" ? undefined : outOfSandbox(identity.path);
      if (outside !== undefined) {
        problems.push(
          new RootstockError(
            "ERR_HOST_TOOL_UNREACHABLE",
            `step "${name}" needs ${tool}, which is ${identity.path} and leads through ${outside}: a ${step.sandbox} step sees only the host's /usr, /bin, /sbin and /lib folders (and a few /etc files)`,
            { ...where, hint: 'install the tool under /usr, or build the step with sandbox = "host"' },
          ),
        );
        continue;
      }
      const stepPath = env.PATH;
      if (stepPath === undefined) continue;
      findOnPath ??= (await import("../host/tools.ts")).findOnPath;
      const found = await findOnPath(tool, stepPath);
      // /bin/sh and /usr/bin/sh are one file where /bin is a link: the same tool.
      const foundReal = found === undefined ? undefined : realpathSync(found);
      if (foundReal !== identity.realPath)
        problems.push(
          new RootstockError(
            "ERR_HOST_TOOL_ELSEWHERE",
            `step "${name}" would run ${found ?? `no ${tool}`} (its [env] PATH, ${stepPath}, finds ${found ? "that" : "none"}), but its key names ${identity.path}, the ${tool} that rootstock's PATH for steps finds`,
            {
              file: join(plan.displayDir, step.dir, "step.toml"),
              field: "env.PATH",
              hint: `order the step's PATH so that it finds ${identity.path} first, or leave PATH out of [env]`,
            },
          ),
        );
    }
  }
  if (problems.length > 0)
    throw new RootstockErrors(
      "ERR_PLAN_NOT_RUNNABLE",
      `plan ${inlineName(plan.displayDir)} cannot run here`,
      problems,
    );
}

function sourcesOf(steps: readonly ResolvedStep[]): SourceRequest[] {
  return steps.flatMap((step) => step.step.sources.map((source) => ({ ...source, steps: [step.name] })));
}

function hostToolNames(graph: Graph): string[] {
  return [
    ...new Set(graph.steps.filter((step) => usesHostTools(step.step)).flatMap((step) => step.step.tools)),
  ];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}
