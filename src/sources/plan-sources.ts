/** The sources a resolved plan needs: one request per step and source, naming the step for messages. */
import type { Graph } from "../plan/graph.ts";
import type { SourceRequest } from "./fetch-sources.ts";

export function planSources(graph: Graph, { disabledToo = false } = {}): SourceRequest[] {
  const enabled = graph.steps.flatMap((resolved) =>
    resolved.step.sources.map((source) => ({ ...source, steps: [resolved.name] })),
  );
  if (!disabledToo) return enabled;
  // A mirror carried to another machine serves the plan with any --set: the steps a `when` turns off
  // here may be the ones wanted there.
  const disabled = graph.disabled.flatMap(({ name }) =>
    (graph.plan.steps.get(name)?.sources ?? []).map((source) => ({ ...source, steps: [name] })),
  );
  return [...enabled, ...disabled];
}
