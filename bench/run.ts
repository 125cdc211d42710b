/**
 * Engine benchmarks, printed side by side:
 *   (a) no-op rerun of a cached 500-step plan, against `node -e 0`;
 *   (b) cold run of a 50-step chain, against the same step scripts run one after another by a plain
 *       shell loop under bwrap;
 *   (c) wall time on a wide DAG, against max(critical path, total work / cores), where the work of each
 *       step is its script's time alone under bwrap.
 *
 * Steps sleep by default, so that the figures show the engine's own cost and scheduling even on a busy
 * machine; --cpu makes them count in a shell loop instead (then parallel steps compete for cores, and
 * other load on the machine shows in the figures).
 *
 *   npm run bench [-- --quick] [-- --cpu] [-- --only a,c]
 *
 * --quick: smaller plans and fewer runs, for a smoke test; --only: just these benchmarks.
 *
 * Beside it: bench/store-format.ts (tree or archive entries), bench/boot.ts (`npm run bench:boot`: boot
 * to first command under TCG), bench/fetch.ts and bench/netboot.ts.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { hostRootEntries } from "../src/build/sandbox.ts";
import { type GeneratedStep, generatePlan } from "./generate-plan.ts";

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    cpu: { type: "boolean", default: false },
    only: { type: "string", default: "a,b,c" },
  },
});
const quick = values.quick ?? false;
const only = new Set((values.only ?? "a,b,c").split(",").map((name) => name.trim()));
for (const name of only) {
  if (!["a", "b", "c"].includes(name)) {
    process.stderr.write(`bench: --only takes a, b and c (comma-separated), not "${name}"\n`);
    process.exit(2);
  }
}
const ROOTSTOCK = fileURLToPath(new URL("../bin/rootstock.js", import.meta.url));
const NODE = process.execPath;
const cores = availableParallelism();
/** Loop iterations per second of dash on this machine, measured below. */
let iterationsPerSecond = 1_500_000;

function time(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): number {
  const started = performance.now();
  const result = spawnSync(command, args, { stdio: ["ignore", "ignore", "pipe"], env });
  const ms = performance.now() - started;
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed: ${result.stderr}`);
  return ms;
}

function median(values: number[]): number {
  return quantile(values, 0.5);
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] as number;
}

function rootstock(storeDir: string, ...args: string[]): string[] {
  return [ROOTSTOCK, "--store", storeDir, ...args];
}

/** bwrap arguments close to what a host-rooted step gets from rootstock. */
function bwrapArgs(buildDir: string, outDir: string, stepDir: string): string[] {
  const args = ["--unshare-all", "--die-with-parent", "--new-session"];
  for (const entry of hostRootEntries()) {
    if (entry.symlink !== undefined) args.push("--symlink", entry.symlink, `/${entry.name}`);
    else args.push("--ro-bind", entry.from as string, `/${entry.name}`);
  }
  args.push("--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp");
  args.push("--bind", buildDir, "/build", "--bind", outDir, "/out", "--ro-bind", stepDir, "/.step");
  args.push("--remount-ro", "/", "--chdir", "/build", "--setenv", "OUT", "/out");
  return args;
}

/** The plain shell loop of (b): each step's script under bwrap, one after another. */
async function shellLoop(dir: string, planDir: string, steps: GeneratedStep[]): Promise<string> {
  const lines = ["#!/bin/sh", "set -e", `work=${dir}/loop-work`, 'rm -rf "$work"'];
  for (const step of steps) {
    const build = `$work/${step.name}/build`;
    const out = `$work/${step.name}/out`;
    lines.push(`mkdir -p "${build}" "${out}"`);
    const args = bwrapArgs(build, out, join(planDir, "steps", step.name)).map((arg) =>
      arg.includes("$") ? `"${arg}"` : `'${arg}'`,
    );
    lines.push(`bwrap ${args.join(" ")} /bin/sh -c '. /.step/build.sh; do_compile; do_install'`);
  }
  const script = join(dir, "loop.sh");
  await writeFile(script, `${lines.join("\n")}\n`);
  return script;
}

/** Each step's script alone under bwrap, timed: the work of (c). */
async function stepWork(dir: string, planDir: string, steps: GeneratedStep[]): Promise<Map<string, number>> {
  const work = new Map<string, number>();
  for (const step of steps) {
    const build = join(dir, "work", step.name, "build");
    const out = join(dir, "work", step.name, "out");
    await mkdir(build, { recursive: true });
    await mkdir(out, { recursive: true });
    const args = [
      ...bwrapArgs(build, out, join(planDir, "steps", step.name)),
      "/bin/sh",
      "-c",
      ". /.step/build.sh; do_compile; do_install",
    ];
    work.set(step.name, time("bwrap", args));
  }
  return work;
}

function criticalPath(steps: GeneratedStep[], work: Map<string, number>): number {
  const memo = new Map<string, number>();
  const byName = new Map(steps.map((step) => [step.name, step]));
  const finish = (name: string): number => {
    const known = memo.get(name);
    if (known !== undefined) return known;
    const step = byName.get(name) as GeneratedStep;
    const value = Math.max(0, ...step.deps.map(finish)) + (work.get(name) ?? 0);
    memo.set(name, value);
    return value;
  };
  return Math.max(...steps.map((step) => finish(step.name)));
}

function cpu(): { cpu?: { iterationsPerSecond: number } } {
  return values.cpu ? { cpu: { iterationsPerSecond } } : {};
}

function format(ms: number): string {
  return ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

const rows: string[][] = [];
const base = await mkdtemp(join(tmpdir(), "rootstock-bench-"));
try {
  process.stderr.write(`bench: ${cores} cores; working in ${base}\n`);
  {
    const started = performance.now();
    execFileSync("sh", ["-c", 'i=0; while [ "$i" -lt 300000 ]; do i=$((i + 1)); done']);
    iterationsPerSecond = 300_000 / ((performance.now() - started) / 1000);
  }

  // (a) no-op rerun of a cached 500-step plan.
  if (only.has("a")) {
    const steps = quick ? 100 : 500;
    const dir = join(base, "noop");
    const planDir = join(dir, "plan");
    const storeDir = join(dir, "store");
    await generatePlan(planDir, { steps, shape: "layered", workMs: 0, width: 10, name: "bench-noop" });
    process.stderr.write(`(a) building the ${steps}-step plan once…\n`);
    time(NODE, rootstock(storeDir, "run", planDir));
    // Past the plan cache's two-second window for fresh files, as a plan edited earlier would be.
    await new Promise((resolve) => setTimeout(resolve, 2100));
    time(NODE, rootstock(storeDir, "run", planDir));
    // Alternated, so that a machine that speeds up or slows down meanwhile skews both alike.
    const runs = quick ? 5 : 20;
    const nodeMs: number[] = [];
    const noopMs: number[] = [];
    for (let run = 0; run < runs; run++) {
      nodeMs.push(time(NODE, ["-e", "0"]));
      noopMs.push(time(NODE, rootstock(storeDir, "run", planDir)));
    }
    const node = median(nodeMs);
    const noop = median(noopMs);
    rows.push([
      `(a) no-op rerun, ${steps} cached steps`,
      format(noop),
      `${format(node)} (node -e 0)`,
      `${(noop / node).toFixed(2)}x`,
      "< 1 s and <= 3x",
    ]);
    // How far the machine's noise moves the ratio: each run against the `node -e 0` just before it.
    const ratios = noopMs.map((ms, index) => ms / (nodeMs[index] as number));
    rows.push([
      "    ratio of each pair, quartiles",
      "",
      "",
      `${quantile(ratios, 0.25).toFixed(2)}-${quantile(ratios, 0.75).toFixed(2)}x`,
      "",
    ]);
  }

  // (b) cold run of a 50-step chain against a shell loop under bwrap.
  if (only.has("b")) {
    const count = quick ? 10 : 50;
    const dir = join(base, "cold");
    const planDir = join(dir, "plan");
    const steps = await generatePlan(planDir, {
      steps: count,
      shape: "chain",
      workMs: quick ? 100 : 300,
      name: "bench-cold",
      ...cpu(),
    });
    const loop = await shellLoop(dir, planDir, steps);
    const runs = quick ? 1 : 3;
    const loopMs: number[] = [];
    const rootstockMs: number[] = [];
    for (let run = 0; run < runs; run++) {
      process.stderr.write(`(b) run ${run + 1} of ${runs}…\n`);
      loopMs.push(time("sh", [loop]));
      const storeDir = join(dir, `store-${run}`);
      rootstockMs.push(time(NODE, rootstock(storeDir, "run", planDir, "-j", "1")));
      await rm(storeDir, { recursive: true, force: true });
    }
    const ours = median(rootstockMs);
    const theirs = median(loopMs);
    rows.push([
      `(b) cold run, ${count}-step chain (${quick ? "0.1" : "0.3"} s ${values.cpu ? "of CPU" : "sleep"} each)`,
      format(ours),
      `${format(theirs)} (sh loop, bwrap)`,
      `${(ours / theirs).toFixed(3)}x`,
      "<= 1.03x",
    ]);
    rows.push(["    overhead per step", format((ours - theirs) / count), "", "", ""]);
  }

  // (c) a wide DAG: a long chain beside many short independent steps.
  if (only.has("c")) {
    const dir = join(base, "wide");
    const planDir = join(dir, "plan");
    const steps = await generatePlan(planDir, {
      steps: quick ? 12 : 26,
      shape: "wide",
      workMs: quick ? 300 : 1000,
      chain: 4,
      name: "bench-wide",
      ...cpu(),
    });
    process.stderr.write("(c) timing each step alone…\n");
    const stepMs = await stepWork(dir, planDir, steps);
    const total = [...stepMs.values()].reduce((sum, ms) => sum + ms, 0);
    const bound = Math.max(criticalPath(steps, stepMs), total / cores);
    process.stderr.write(`(c) running the plan with -j ${cores}…\n`);
    const wall = time(NODE, rootstock(join(dir, "store"), "run", planDir, "-j", String(cores)));
    rows.push([
      `(c) wide DAG, ${steps.length} steps, -j ${cores}`,
      format(wall),
      `${format(bound)} (max(cp ${format(criticalPath(steps, stepMs))}, work/cores ${format(total / cores)}))`,
      `${(wall / bound).toFixed(3)}`,
      "<= 1.10",
    ]);
  }
} finally {
  await rm(base, { recursive: true, force: true });
}

const load = loadavg().map((value) => value.toFixed(2));
process.stdout.write(
  `machine: ${cores} cores, load average ${load.join(" ")} (other work on the machine skews every figure)\n`,
);
const headers = ["benchmark", "rootstock", "reference", "ratio", "target"];
const widths = headers.map((header, index) =>
  Math.max(header.length, ...rows.map((row) => (row[index] ?? "").length)),
);
const line = (cells: string[]) => cells.map((cell, index) => cell.padEnd(widths[index] as number)).join("  ");
process.stdout.write(`${line(headers)}\n${line(widths.map((width) => "-".repeat(width)))}\n`);
for (const row of rows) process.stdout.write(`${line(row)}\n`);
