/** Text renderings of a resolved graph: the step list, the dependency graph, and Graphviz DOT. */
import type { Graph } from "./graph.ts";

type Style = (format: "bold" | "dim" | "cyan" | "yellow", text: string) => string;

export interface RenderOptions {
  style?: Style;
  /** Characters of each key to show (default 16; the full key with --json). */
  keyLength?: number;
}

const plain: Style = (_format, text) => text;

export function renderSteps(graph: Graph, options: RenderOptions = {}): string[] {
  const style = options.style ?? plain;
  const keyLength = options.keyLength ?? 16;
  const { plan } = graph;
  const lines = [
    `${style("bold", plan.name)} (${plan.arch}): ${graph.steps.length} step${graph.steps.length === 1 ? "" : "s"} in ${plan.stages.length} stage${plan.stages.length === 1 ? "" : "s"}`,
  ];
  const nameWidth = Math.max(4, ...graph.steps.map((step) => step.name.length));
  const versionWidth = Math.max(1, ...graph.steps.map((step) => (step.step.version ?? "-").length));
  let number = 0;
  plan.stages.forEach((stage, index) => {
    const inStage = graph.steps.filter((step) => step.stageIndex === index);
    lines.push(
      `${style("bold", `stage ${index + 1}/${plan.stages.length}`)} ${stage.name}${stage.description ? style("dim", ` — ${stage.description}`) : ""}`,
    );
    for (const step of inStage) {
      number++;
      const { sandbox, root, deps } = step.step;
      const where = sandbox === "host" ? "host" : `${sandbox} root=${root}`;
      lines.push(
        `  ${String(number).padStart(3)}  ${step.name.padEnd(nameWidth)}  ${(step.step.version ?? "-").padEnd(versionWidth)}  ${where.padEnd(16)}  ${style("cyan", step.key.slice(0, keyLength))}${deps.length > 0 ? style("dim", `  ← ${deps.join(", ")}`) : ""}`,
      );
    }
  });
  for (const { name, when } of graph.disabled)
    lines.push(style("dim", `  disabled: ${name} (when = ${JSON.stringify(when)})`));
  return lines;
}

export function renderGraphText(graph: Graph): string[] {
  const lines: string[] = [];
  const dependents = new Map<string, string[]>();
  for (const step of graph.steps) {
    for (const dep of step.step.deps) dependents.set(dep, [...(dependents.get(dep) ?? []), step.name]);
  }
  graph.plan.stages.forEach((stage, index) => {
    const inStage = graph.steps.filter((step) => step.stageIndex === index);
    const disabled = graph.disabled.filter(({ name }) => graph.plan.steps.get(name)?.stage === stage.name);
    if (inStage.length === 0 && disabled.length === 0) return;
    lines.push(`[${stage.name}]`);
    for (const step of inStage) {
      const deps = step.step.deps;
      const mounts = step.step.mounts.map((mount) => `${mount.step} at ${mount.at}`);
      lines.push(
        `  ${step.name}${deps.length > 0 ? ` <- ${deps.join(", ")}` : ""}${mounts.length > 0 ? `  (mounts ${mounts.join(", ")})` : ""}`,
      );
    }
    for (const { name, when } of disabled)
      lines.push(`  ${name}  (disabled: when = ${JSON.stringify(when)})`);
  });
  const roots = graph.steps.filter((step) => !dependents.has(step.name)).map((step) => step.name);
  lines.push(roots.length > 0 ? `final: ${roots.join(", ")}` : "no step is enabled: nothing to build");
  return lines;
}

export function renderDot(graph: Graph): string[] {
  const quote = (text: string) => JSON.stringify(text);
  const lines = [
    `digraph ${quote(graph.plan.name)} {`,
    "  rankdir=LR;",
    "  node [shape=box, fontname=monospace];",
  ];
  graph.plan.stages.forEach((stage, index) => {
    lines.push(`  subgraph ${quote(`cluster_${index}`)} {`, `    label=${quote(stage.name)};`);
    for (const step of graph.steps.filter((item) => item.stageIndex === index)) {
      const label = step.step.version ? `${step.name}\\n${step.step.version}` : step.name;
      lines.push(`    ${quote(step.name)} [label="${label.replace(/"/g, '\\"')}"];`);
    }
    for (const { name, when } of graph.disabled) {
      if (graph.plan.steps.get(name)?.stage !== stage.name) continue;
      lines.push(
        `    ${quote(name)} [style=dashed, fontcolor=gray, color=gray, tooltip=${quote(`when = ${when}`)}];`,
      );
    }
    lines.push("  }");
  });
  for (const step of graph.steps) {
    for (const dep of step.step.deps) {
      const mount = step.step.mounts.find((item) => item.step === dep);
      lines.push(
        `  ${quote(dep)} -> ${quote(step.name)}${mount ? ` [label=${quote(mount.at)}, style=bold]` : ""};`,
      );
    }
  }
  lines.push("}");
  return lines;
}
