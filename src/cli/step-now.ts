/** `log` and `shell` look back at a step's latest build; what it is now says whether that still applies. */
import { isRootstockError } from "../errors.ts";
import type { ResolvedStep } from "../plan/graph.ts";
import { openPlan } from "../plan/open.ts";
import type { Value } from "../plan/predicate.ts";
import { type EntryRecord, OutputStore } from "../store/output-store.ts";
import type { CliContext } from "./context.ts";

const { join } = process.getBuiltinModule("node:path");

export interface StepNow {
  /** The step as the plan has it now, with the variables given (`--set`) or the plan's own. */
  resolved: ResolvedStep;
  /** Its entry, when the store has one: a run would not build it. */
  entry: EntryRecord | undefined;
}

/** Undefined when the plan does not resolve as it stands (what was built before may still be looked at). */
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
    if (isRootstockError(error)) return undefined;
    throw error;
  }
}
