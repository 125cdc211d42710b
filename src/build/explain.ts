/** Why a step runs, said against what the store remembers of its builds (`run --explain`, `shell`, `log`). */
import type { StepReason } from "../events.ts";
import { definitionParts, type ResolvedStep } from "../plan/graph.ts";
import type { StepBuild, StepHistory } from "../store/step-history.ts";

/**
 * Why a step without an entry runs: never built, what became of a build with its very inputs, or which
 * inputs differ from the nearest of its recent builds (the latest one need not be: an edit undone, or
 * another checkout of the plan, brings back an earlier build's inputs).
 */
export function explainRebuild(step: ResolvedStep, previous: StepHistory | undefined): StepReason {
  if (!previous) return { kind: "no-entry" };
  const builds = [previous, ...(previous.earlier ?? [])];
  const same = builds.find((build) => build.key === step.key);
  if (same) {
    const outcome =
      same.status === "failed"
        ? "failed"
        : same.status === "running" || same.status === "interrupted"
          ? "unfinished"
          : "removed";
    return { kind: "no-entry", before: { outcome, runId: same.runId } };
  }
  let nearest: string[] | undefined;
  for (const build of builds) {
    const changed = changedInputs(step, build);
    if (nearest === undefined || changed.length < nearest.length) nearest = changed;
  }
  return nearest && nearest.length > 0 ? { kind: "changed", inputs: nearest } : { kind: "no-entry" };
}

/**
 * The key inputs that differ between a step and a build of it; within `definition`, the fields. An
 * input of rootstock's own (a name without a colon, such as `arch`) that only one side has is no edit
 * of the plan: the build was made by a rootstock that keyed otherwise, and is said to be.
 */
export function changedInputs(step: ResolvedStep, build: StepBuild): string[] {
  const names = new Set([...Object.keys(build.inputs), ...Object.keys(step.inputs)]);
  const changed = [...names].filter((name) => build.inputs[name] !== step.inputs[name]);
  const said = (name: string) =>
    name.includes(":")
      ? name
      : !(name in build.inputs)
        ? `${name} (not keyed on by the rootstock that made that build)`
        : !(name in step.inputs)
          ? `${name} (no longer keyed on)`
          : name;
  if (!changed.includes("definition") || build.definition === undefined) return changed.sort().map(said);
  const before = build.definition;
  const now = definitionParts(step);
  const fields = new Set([...Object.keys(before), ...Object.keys(now)]);
  const named = [...fields].filter((field) => before[field] !== now[field]);
  if (named.length === 0) return changed.sort().map(said);
  return [...changed.filter((name) => name !== "definition").map(said), ...named].sort();
}
