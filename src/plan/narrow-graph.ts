/**
 * A resolved graph cut down to some steps and what they need, as `rootstock image` and `rootstock test`
 * build only the steps of the images they make. Keys do not change: a step's key covers its dependencies
 * alone, never the rest of the plan. Pure.
 */
import { RootstockError } from "../errors.ts";
import { type Graph, graphDigest, type ResolvedStep, whenLocation } from "./graph.ts";
import { didYouMean } from "./suggest.ts";

export interface NarrowOptions {
  /** What needs the steps, for messages ("image rootfs"). */
  neededBy?: string;
}

export function narrowGraph(graph: Graph, targets: readonly string[], options: NarrowOptions = {}): Graph {
  const wanted = new Set<string>();
  const visit = (name: string) => {
    if (wanted.has(name)) return;
    wanted.add(name);
    for (const dep of graph.byName.get(name)?.step.deps ?? []) visit(dep);
  };
  const by = options.neededBy === undefined ? "" : `, needed by ${options.neededBy},`;
  for (const target of targets) {
    if (graph.byName.has(target)) {
      visit(target);
      continue;
    }
    const disabled = graph.disabled.find((step) => step.name === target);
    if (disabled) {
      throw new RootstockError(
        "ERR_PLAN_DEP_DISABLED",
        `step "${target}"${by} is disabled by when = ${JSON.stringify(disabled.when)}`,
        {
          ...whenLocation(graph.plan, target),
          hint: "set the plan's variables with --set NAME=VALUE to enable it",
        },
      );
    }
    const known = graph.steps.map((step) => step.name);
    throw new RootstockError(
      "ERR_PLAN_UNKNOWN_STEP",
      `no step named "${target}"${by} in plan ${graph.plan.name}`,
      {
        file: `${graph.plan.displayDir}/plan.toml`,
        hint: didYouMean(target, known) || `steps: ${known.join(", ")}`,
      },
    );
  }
  const steps: ResolvedStep[] = graph.steps.filter((step) => wanted.has(step.name));
  return {
    ...graph,
    steps,
    byName: new Map(steps.map((step) => [step.name, step])),
    digest: graphDigest(steps),
  };
}
