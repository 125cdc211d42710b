/** The sources a resolved plan needs: one request per step and source, naming the step for messages. */
import type { Graph } from "../plan/graph.ts";
import type { SourceRequest } from "./fetch-sources.ts";

export function planSources(graph: Graph): SourceRequest[] {
  return graph.steps.flatMap((resolved) =>
    resolved.step.sources.map((source) => ({ ...source, steps: [resolved.name] })),
  );
}

/**
 * The sources of the steps a `when` turns off with these variables: a mirror carried to another
 * machine serves the plan with any --set, and the steps off here may be the ones wanted there.
 */
export function turnedOffSources(graph: Graph): SourceRequest[] {
  return graph.disabled.flatMap(({ name }) =>
    (graph.plan.steps.get(name)?.sources ?? []).map((source) => ({ ...source, steps: [name] })),
  );
}
