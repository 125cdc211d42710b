/** Gathers what a report needs to say about a run: the plan, the host, the seeds, the revisions. */

import { JOURNAL_FORMAT, type RunContext } from "../events.ts";
import type { ToolIdentity } from "../host/tools.ts";
import type { Graph } from "../plan/graph.ts";
import { currentFolderIfAny } from "../units.ts";
import { ROOTSTOCK_DIR, ROOTSTOCK_VERSION } from "../version.ts";
import { gitRevision } from "./git-revision.ts";

const { readFileSync } = process.getBuiltinModule("node:fs");
const { cpus, release, totalmem } = process.getBuiltinModule("node:os");

export interface DescribeRunOptions {
  /** The command that makes the run (default "run"). */
  command?: string;
  /** Its command-line options, for the report's command line. */
  options?: readonly string[];
  /** The steps or images it named after the plan. */
  targets?: readonly string[];
  /** The store, whose notes say how the sources came in. */
  storeDir?: string;
}

export async function describeRun(
  graph: Graph,
  tools: ReadonlyMap<string, ToolIdentity | undefined>,
  options: DescribeRunOptions = {},
): Promise<RunContext> {
  const { plan } = graph;
  const version = ROOTSTOCK_VERSION;
  const planRevision = gitRevision(plan.dir);
  const rootstockRevision = gitRevision(ROOTSTOCK_DIR, { here: true });
  const os = osName();
  const processors = cpus();
  const set = Object.entries(graph.variables).filter(([name, value]) => plan.variables[name] !== value);
  const usedTools = new Set(
    graph.steps.flatMap((step) =>
      step.step.sandbox === "host" || step.step.root === "host" ? step.step.tools : [],
    ),
  );
  return {
    journal: JOURNAL_FORMAT,
    command: options.command ?? "run",
    ...(currentFolderIfAny() === undefined ? {} : { cwd: currentFolderIfAny() }),
    ...(options.targets === undefined ? {} : { targets: [...options.targets] }),
    ...(options.options === undefined || options.options.length === 0
      ? {}
      : { options: [...options.options] }),
    plan: {
      name: plan.name,
      arch: plan.arch,
      dir: plan.displayDir,
      ...(plan.description === undefined ? {} : { description: plan.description.trim() }),
      ...(plan.upstream === undefined ? {} : { upstream: plan.upstream }),
      ...(plan.documentation === undefined ? {} : { documentation: plan.documentation }),
      ...(planRevision === undefined ? {} : { revision: planRevision }),
      digest: graph.digest.slice(0, 16),
      steps: plan.steps.size - graph.disabled.length,
      ...(plan.hostPackages.length === 0 ? {} : { packages: [...plan.hostPackages] }),
      ...(set.length === 0 ? {} : { set: Object.fromEntries(set) }),
    },
    rootstock: { version, ...(rootstockRevision === undefined ? {} : { revision: rootstockRevision }) },
    host: {
      cpu: processors[0]?.model.trim() ?? "unknown",
      cores: processors.length,
      memoryBytes: totalmem(),
      os,
      kernel: release(),
    },
    stages: plan.stages.map((stage) => ({
      name: stage.name,
      steps: stage.steps.filter((name) => graph.byName.has(name)),
      ...(stage.description === undefined ? {} : { description: stage.description }),
    })),
    steps: graph.steps.map(({ step, key }) => ({
      name: step.name,
      stage: step.stage,
      deps: step.deps,
      sandbox: step.sandbox,
      root: step.root,
      key,
      sources: step.sources.map((source) => ({
        file: source.file,
        sha256: source.sha256,
        ...(source.url === undefined ? {} : { url: source.url }),
        ...(source.debian === undefined
          ? {}
          : { debian: `${source.debian.package} ${source.debian.version} ${source.debian.file}` }),
      })),
      patches: step.patches.map((patch) => patch.path),
      ...(step.version === undefined ? {} : { version: step.version }),
      ...(step.description === undefined ? {} : { description: step.description }),
    })),
    ...(options.storeDir === undefined ? {} : await sourceOrigins(graph, options.storeDir)),
    seeds: [...tools]
      .filter(([name, identity]) => identity !== undefined && usedTools.has(name))
      .map(([name, identity]) => {
        const { path, realPath, version: toolVersion, sha256 } = identity as ToolIdentity;
        return { name, path, realPath, version: toolVersion, sha256 };
      })
      .sort((a, b) => a.name.localeCompare(b.name)),
    disabled: graph.disabled.map((step) => {
      const stage = plan.steps.get(step.name)?.stage;
      return { ...step, ...(stage === undefined ? {} : { stage }) };
    }),
  };
}

async function sourceOrigins(graph: Graph, storeDir: string): Promise<Pick<RunContext, "sourceOrigins">> {
  const hashes = new Set(graph.steps.flatMap(({ step }) => step.sources.map((source) => source.sha256)));
  if (hashes.size === 0) return {};
  // Loaded for a plan with sources only: a no-op run of one without pays nothing for it.
  const { SourceStore } = await import("../sources/source-store.ts");
  const store = new SourceStore(storeDir);
  const origins: NonNullable<RunContext["sourceOrigins"]> = {};
  for (const sha256 of hashes) {
    const origin = store.originOf(sha256);
    if (origin) origins[sha256] = origin;
  }
  return Object.keys(origins).length === 0 ? {} : { sourceOrigins: origins };
}

function osName(): string {
  let text = "";
  try {
    text = readFileSync("/etc/os-release", "utf8");
  } catch {
    // Not every system has it.
  }
  return /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(text)?.[1] ?? "Linux";
}
