/** The sources a resolved plan needs: one request per step and source, naming the step for messages. */
import type { Graph } from "../plan/graph.ts";
import type { SourceRequest } from "./fetch-sources.ts";

export function planSources(graph: Graph): SourceRequest[] {
  return graph.steps.flatMap((resolved) =>
    resolved.step.sources.map((source) => ({ ...source, steps: [resolved.name] })),
  );
}
