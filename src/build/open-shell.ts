/**
 * `rootstock shell PLAN STEP`: a shell in the sandbox where a step's build failed — same root, mounts,
 * environment and folder, with the step's phases defined (`do_compile` runs the compile phase again).
 */
import { RootstockError } from "../errors.ts";
import type { ResolvedStep } from "../plan/graph.ts";
import { fileSystemRefusal } from "../store/fs-refusal.ts";
import { OutputStore } from "../store/output-store.ts";
import { runIsLiveById } from "../store/run-record.ts";
import { readStepHistory } from "../store/step-history.ts";
import { changedInputs } from "./explain.ts";
import { runSandboxed } from "./run-sandboxed.ts";
import type { SavedSandbox } from "./workspace.ts";

const { existsSync } = process.getBuiltinModule("node:fs");
const { readFile, stat } = process.getBuiltinModule("node:fs/promises");
const { join } = process.getBuiltinModule("node:path");

export interface ShellOptions {
  /** Run this command (with `sh -c`) instead of an interactive shell. */
  command?: string;
  signal?: AbortSignal;
}

export interface ShellTarget {
  workDir: string;
  saved: SavedSandbox;
  /** The step's inputs that differ now from the failed build's (given `now`; empty: none). */
  changed: string[];
}

export interface FindBuildOptions {
  /** The step as the plan has it now: errors and `changed` then say how the failed build differs. */
  now?: ResolvedStep;
}

/**
 * Finds the kept build folder of the step's latest failed (or killed) build. `planArg` is the plan as
 * the user named it, for the commands hints suggest.
 */
export async function findFailedBuild(
  storeDir: string,
  plan: string,
  step: string,
  planArg = "PLAN",
  options: FindBuildOptions = {},
): Promise<ShellTarget> {
  const latest = await readStepHistory(storeDir, plan, step);
  const { now } = options;
  // The step as asked (its --set) may be an earlier build than the latest: its failed folder may still
  // be there (a shell kept it, or gc has not come), under the run that made it.
  const asked =
    latest && now && now.key !== latest.key
      ? latest.earlier?.find(
          (build) =>
            build.key === now.key &&
            (build.status === "failed" || build.status === "interrupted") &&
            existsSync(join(storeDir, "work", build.runId, step)),
        )
      : undefined;
  const history =
    latest && asked ? { ...latest, ...asked, workDir: join(storeDir, "work", asked.runId, step) } : latest;
  // The entry of the step as it is now, when it has one: then a run builds nothing, and fails nowhere.
  const entry = now ? await new OutputStore(storeDir).record(now.key) : undefined;
  const hint = `rootstock shell enters the build folder of a step that failed; \`rootstock run ${planArg} ${step}\` builds it if the store does not have it yet`;
  if (!history) {
    throw new RootstockError(
      "ERR_SHELL_NO_BUILD",
      entry
        ? `step "${step}" of plan ${plan} has no failed build to enter: this plan never built it, and its entry in the store was built by plan ${entry.plan}, step ${entry.step}, in run ${entry.runId}`
        : `step "${step}" of plan ${plan} has never been built in this store`,
      {
        hint: entry
          ? `rootstock shell enters the build folder of a step that failed; \`rootstock log ${planArg} ${step}\` shows how the entry was built`
          : hint,
      },
    );
  }
  const changed = now && now.key !== history.key ? changedInputs(now, history) : [];
  const running = history.status === "running" && (await runIsLiveById(storeDir, history.runId));
  if (running) {
    throw new RootstockError(
      "ERR_SHELL_STILL_RUNNING",
      `step "${step}" is being built right now (run ${history.runId})`,
      {
        hint: "wait for it to fail or finish",
      },
    );
  }
  const workDir = history.workDir;
  const stopped = history.status === "failed" || history.status === "interrupted";
  if (stopped && workDir === undefined) {
    throw new RootstockError(
      "ERR_SHELL_NO_BUILD",
      `step "${step}" failed (run ${history.runId}), but its record names no build folder inside this store`,
      { hint },
    );
  }
  if ((!stopped && history.status !== "running") || workDir === undefined) {
    throw new RootstockError(
      "ERR_SHELL_NO_BUILD",
      now && now.key !== history.key
        ? `step "${step}" with these inputs has no failed build kept: its latest build (run ${history.runId}) had others (${changedInputs(now, history).join(", ") || "its key"}) and ${history.status === "cached" ? "was cached" : "succeeded"}`
        : `step "${step}" did not fail: its latest build (run ${history.runId}) ${history.status === "cached" ? "was cached" : "succeeded"}, so no build folder was kept`,
      { hint },
    );
  }
  // Not there is one thing; there but not readable (another user's folder) is told as such.
  const absent = (error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT" || error.code === "ENOTDIR") return undefined;
    throw fileSystemRefusal(error, storeDir, true) ?? error;
  };
  const text = await readFile(join(workDir, "sandbox.json"), "utf8").catch(absent);
  if (text === undefined && (await stat(workDir).catch(absent))) {
    throw new RootstockError(
      "ERR_SHELL_NO_SANDBOX",
      `step "${step}" failed while rootstock prepared its build folder, before its sandbox existed`,
      {
        hint: `\`rootstock log ${planArg} ${step}\` says why; fix that and run the step again`,
        file: workDir,
      },
    );
  }
  if (text === undefined) {
    throw new RootstockError(
      "ERR_SHELL_NO_BUILD",
      `the build folder of step "${step}" (${workDir}) is gone`,
      {
        hint: entry
          ? `it was removed by gc or a later run; the step as the plan has it now is in the store (built in run ${entry.runId}), so a run will not build it again`
          : changed.length > 0
            ? `it was removed by gc or a later run; the step has changed since it failed (${changed.join(", ")}), and \`rootstock run ${planArg} ${step}\` builds it as it is now`
            : `it was removed by gc or a later run; run \`rootstock run ${planArg} ${step}\` to fail again`,
      },
    );
  }
  let saved: SavedSandbox | undefined;
  try {
    saved = JSON.parse(text) as SavedSandbox;
  } catch {
    saved = undefined;
  }
  const spec = saved?.spec;
  const whole =
    typeof saved === "object" &&
    saved !== null &&
    typeof saved.definitions === "string" &&
    saved.definitions.startsWith("/") &&
    typeof spec === "object" &&
    spec !== null &&
    Array.isArray(spec.root) &&
    Array.isArray(spec.binds) &&
    spec.binds.every((bind) => typeof bind?.from === "string" && typeof bind?.to === "string") &&
    typeof spec.env === "object" &&
    spec.env !== null &&
    typeof spec.cwd === "string";
  if (!whole || saved === undefined) {
    throw new RootstockError(
      "ERR_SHELL_NO_BUILD",
      `the saved sandbox of step "${step}"'s failed build (${join(workDir, "sandbox.json")}) is damaged`,
      { hint: `run the step again (\`rootstock run ${planArg} ${step}\`) to get a build folder to enter` },
    );
  }
  return { workDir, saved: saved.storeDir ? moveStore(saved, saved.storeDir, storeDir) : saved, changed };
}

/** The saved sandbox with every path in the old store's place in the new one's. */
function moveStore(saved: SavedSandbox, from: string, to: string): SavedSandbox {
  if (from === to) return saved;
  const move = (value: unknown): unknown =>
    typeof value === "string"
      ? value === from || value.startsWith(`${from}/`)
        ? to + value.slice(from.length)
        : value
      : Array.isArray(value)
        ? value.map(move)
        : value !== null && typeof value === "object"
          ? Object.fromEntries(Object.entries(value).map(([key, item]) => [key, move(item)]))
          : value;
  return move(saved) as SavedSandbox;
}

/** Opens the shell; resolves with its exit status. */
export async function openShell(target: ShellTarget, options: ShellOptions = {}): Promise<number> {
  const { spec, definitions } = target.saved;
  // The build may have shut its own folders (chmod 000); they are rootstock's, so it opens them again.
  await (await import("../store/remove-tree.ts")).openFolders(target.workDir);
  for (const bind of spec.binds) {
    if (await stat(bind.from).catch(() => undefined)) continue;
    if (bind.from.startsWith(`${target.workDir}/`)) {
      throw new RootstockError(
        "ERR_SHELL_NO_BUILD",
        `the failed build's own folder ${bind.from}, mounted at ${bind.to}, is missing`,
        {
          hint: `something removed it after the step failed; run the step again (\`rootstock run PLAN ${target.saved.step}\`) to get a whole build folder to enter`,
        },
      );
    }
    throw new RootstockError(
      "ERR_SHELL_NO_BUILD",
      `${bind.from}, mounted at ${bind.to} in the failed build, is gone`,
      {
        hint: "a dependency's entry was removed by gc; run the step again to rebuild what it needs",
      },
    );
  }
  const command =
    options.command === undefined
      ? ["/bin/sh", "-i"]
      : ["/bin/sh", "-c", `. ${definitions}\n${options.command}`];
  const env = { ...spec.env, ENV: definitions, PS1: `[${target.saved.step}] # ` };
  const run = await runSandboxed({ ...spec, env }, command, {
    interactive: true,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return run.code ?? 128 + 9;
}
