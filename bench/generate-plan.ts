/**
 * Synthetic plans for benchmarks. Each step does a fixed amount of work: by default it sleeps (its
 * duration then does not depend on what else the machine runs, so the engine's own cost shows), or with
 * `cpu` it counts in a plain sh loop (parallel steps then really compete for cores).
 *
 *   node bench/generate-plan.ts DIR --steps 500 --shape layered [--work-ms 0] [--cpu]
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
  /** Milliseconds of work per step (the light steps of "wide" do a fifth of it). */
  workMs: number;
  /** Count in a loop instead of sleeping; `iterationsPerSecond` converts milliseconds to iterations. */
  cpu?: { iterationsPerSecond: number };
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

/** A step script: `ms` of work (sleeping, or counting in a loop), then a small output. */
export function workScript(ms: number, name: string, cpu?: { iterationsPerSecond: number }): string {
  const work =
    ms === 0
      ? ["  :"]
      : cpu
        ? [
            "  i=0",
            `  while [ "$i" -lt ${Math.round((cpu.iterationsPerSecond * ms) / 1000)} ]; do i=$((i + 1)); done`,
          ]
        : [`  sleep ${(ms / 1000).toFixed(3)}`];
  return ["do_compile() {", ...work, "}", "do_install() {", `  echo ${name} > "$OUT/${name}"`, "}", ""].join(
    "\n",
  );
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
        script: workScript(options.workMs, name, options.cpu),
      });
    }
    for (let index = 0; index < light; index++) {
      const name = `light${String(index).padStart(3, "0")}`;
      steps.push({ name, deps: [], script: workScript(Math.round(options.workMs / 5), name, options.cpu) });
    }
    steps.push({
      name: "sink",
      deps: steps.map((step) => step.name),
      script: workScript(0, "sink", options.cpu),
    });
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
    steps.push({ name, deps, script: workScript(options.workMs, name, options.cpu) });
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
      "work-ms": { type: "string", default: "0" },
      cpu: { type: "boolean", default: false },
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
    workMs: Number(values["work-ms"]),
    ...(values.cpu ? { cpu: { iterationsPerSecond: 1_500_000 } } : {}),
    width: Number(values.width),
  });
  process.stdout.write(`${steps.length} steps written to ${dir}\n`);
}
