/** `log` and `shell` look back at a step's latest build; what it is now says whether that still applies. */
import { isRootstockError, RootstockErrors } from "../errors.ts";
import type { ResolvedStep } from "../plan/graph.ts";
import { openPlan } from "../plan/open.ts";
import type { Value } from "../plan/predicate.ts";
import { type EntryRecord, OutputStore } from "../store/output-store.ts";
import type { CliContext } from "./context.ts";

const { join } = process.getBuiltinModule("node:path");

const SET_PROBLEMS = new Set(["ERR_PLAN_UNKNOWN_VARIABLE", "ERR_PLAN_BAD_SET"]);

export interface StepNow {
  /** The step as the plan has it now, with the variables given (`--set`) or the plan's own. */
  resolved: ResolvedStep;
  /** Its entry, when the store has one: a run would not build it. */
  entry: EntryRecord | undefined;
}

/**
 * Undefined when the plan does not resolve as it stands (what was built before may still be looked at);
 * a `--set` the plan cannot take is refused, as every command refuses it: it would pick another build.
 */
export async function stepNow(
  dir: string,
  step: string,
  context: CliContext,
  variables: Record<string, Value> = {},
): Promise<StepNow | undefined> {
  try {
    const { graph } = await openPlan(dir, {
      cacheDir: join(context.storeDir, "cache"),
      targets: [step],
      variables,
    });
    const resolved = graph.byName.get(step);
    if (!resolved) return undefined;
    return { resolved, entry: await new OutputStore(context.storeDir).record(resolved.key) };
  } catch (error) {
    if (!isRootstockError(error)) throw error;
    const problems = error instanceof RootstockErrors ? error.errors : [error];
    if (problems.some((problem) => SET_PROBLEMS.has(problem.code))) throw error;
    // A --set that turns the step off names no build of it: the one found would be another variant's.
    const given = Object.keys(variables).length > 0;
    if (given && problems.some((problem) => problem.code === "ERR_PLAN_DEP_DISABLED")) throw error;
    return undefined;
  }
}
