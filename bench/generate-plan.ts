/**
 * Synthetic plans for benchmarks. Each step does a fixed amount of CPU work in plain sh (a counting
 * loop), so that its duration depends on the machine, not on timers, and parallel steps really compete
 * for cores.
 *
 *   node bench/generate-plan.ts DIR --steps 500 --shape layered [--work 0]
 */
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";

export type Shape =
  /** Each step depends on the one before. */
  | "chain"
  /** Layers of `width` steps, each depending on two steps of the layer before. */
  | "layered"
  /** One long chain of `chain` heavy steps beside many light independent steps, then a sink. */
  | "wide";

export interface GenerateOptions {
  steps: number;
  shape: Shape;
  /** Loop iterations per step (the light steps of "wide" do a fifth of it). */
  work: number;
  width?: number;
  /** For "wide": how many heavy steps form the chain. */
  chain?: number;
  name?: string;
}

export interface GeneratedStep {
  name: string;
  deps: string[];
  script: string;
}

export function stepName(index: number): string {
  return `s${String(index).padStart(4, "0")}`;
}

/** A step script: count to `iterations`, then leave a small output. */
export function workScript(iterations: number, name: string): string {
  return [
    "do_compile() {",
    "  i=0",
    `  while [ "$i" -lt ${iterations} ]; do i=$((i + 1)); done`,
    "}",
    "do_install() {",
    `  echo ${name} > "$OUT/${name}"`,
    "}",
    "",
  ].join("\n");
}

export function planSteps(options: GenerateOptions): GeneratedStep[] {
  const steps: GeneratedStep[] = [];
  const width = options.width ?? 10;
  if (options.shape === "wide") {
    const chain = options.chain ?? 4;
    const light = options.steps - chain - 1;
    for (let index = 0; index < chain; index++) {
      const name = `heavy${index}`;
      steps.push({
        name,
        deps: index === 0 ? [] : [`heavy${index - 1}`],
        script: workScript(options.work, name),
      });
    }
    for (let index = 0; index < light; index++) {
      const name = `light${String(index).padStart(3, "0")}`;
      steps.push({ name, deps: [], script: workScript(Math.round(options.work / 5), name) });
    }
    steps.push({ name: "sink", deps: steps.map((step) => step.name), script: workScript(0, "sink") });
    return steps;
  }
  for (let index = 0; index < options.steps; index++) {
    const name = stepName(index);
    let deps: string[] = [];
    if (options.shape === "chain" && index > 0) deps = [stepName(index - 1)];
    if (options.shape === "layered" && index >= width) {
      const layerStart = Math.floor(index / width) * width - width;
      deps = [
        ...new Set([stepName(layerStart + (index % width)), stepName(layerStart + ((index + 1) % width))]),
      ];
    }
    steps.push({ name, deps, script: workScript(options.work, name) });
  }
  return steps;
}

export async function generatePlan(dir: string, options: GenerateOptions): Promise<GeneratedStep[]> {
  const steps = planSteps(options);
  await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, "steps"), { recursive: true });
  await writeFile(
    join(dir, "plan.toml"),
    [
      `name = "${options.name ?? `bench-${options.shape}`}"`,
      'arch = "x86_64"',
      "[host]",
      'tools = ["sh"]',
      "[[stages]]",
      'name = "all"',
      `steps = ${JSON.stringify(steps.map((step) => step.name))}`,
      "",
    ].join("\n"),
  );
  for (const step of steps) {
    const stepDir = join(dir, "steps", step.name);
    await mkdir(stepDir);
    await writeFile(join(stepDir, "step.toml"), `version = "1"\ndeps = ${JSON.stringify(step.deps)}\n`);
    await writeFile(join(stepDir, "build.sh"), step.script);
  }
  return steps;
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      steps: { type: "string", default: "500" },
      shape: { type: "string", default: "layered" },
      work: { type: "string", default: "0" },
      width: { type: "string", default: "10" },
    },
  });
  const dir = positionals[0];
  if (!dir) {
    process.stderr.write(
      "usage: node bench/generate-plan.ts DIR [--steps N] [--shape chain|layered|wide] [--work N]\n",
    );
    process.exit(2);
  }
  const steps = await generatePlan(dir, {
    steps: Number(values.steps),
    shape: values.shape as Shape,
    work: Number(values.work),
    width: Number(values.width),
  });
  process.stdout.write(`${steps.length} steps written to ${dir}\n`);
}
