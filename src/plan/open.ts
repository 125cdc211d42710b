/** Load, identify host tools, resolve: what every command that works on a plan does first. */

import { RootstockError } from "../errors.ts";
import { identifyToolsCached } from "../host/tool-cache.ts";
import { type ToolIdentity, toolKey } from "../host/tools.ts";
import { currentFolderIfAny } from "../units.ts";
import { type Graph, usesHostTools } from "./graph.ts";
import { openPlanCache } from "./plan-cache.ts";
import type { Value } from "./predicate.ts";

const { join, relative } = process.getBuiltinModule("node:path");

export interface OpenPlanOptions {
  variables?: Record<string, Value>;
  targets?: string[];
  /** Identify host tools for step keys (default true); commands that need no keys skip it. */
  identifyTools?: boolean;
  /** Where loaded plans and host-tool identities are cached (the store's `cache/`); default: no cache. */
  cacheDir?: string;
}

export interface OpenedPlan {
  graph: Graph;
  tools: Map<string, ToolIdentity | undefined>;
}

export async function openPlan(dir: string, options: OpenPlanOptions = {}): Promise<OpenedPlan> {
  const here = currentFolderIfAny();
  const shown = here === undefined ? dir : relative(here, dir) || ".";
  const { cacheDir, identifyTools: identify, ...resolveOptions } = options;
  const cached = await openPlanCache(dir, {
    displayDir: shown.startsWith("..") ? dir : shown,
    ...(cacheDir === undefined ? {} : { cacheDir }),
  });
  const plan = cached.plan;
  const needed =
    identify === false ? [] : [...plan.steps.values()].filter(usesHostTools).flatMap((step) => step.tools);
  const tools = await identifyToolsCached(
    needed,
    cacheDir === undefined ? {} : { cacheFile: join(cacheDir, "tools.json") },
  );
  const toolIdentities = Object.fromEntries([...tools].map(([name, identity]) => [name, toolKey(identity)]));
  const graph = cached.resolve({ ...resolveOptions, toolIdentities });
  return { graph, tools };
}

/**
 * Parses `--set NAME=VALUE` flags. Values stay text: resolving the plan gives each the type of the
 * variable it sets, so that `--set VERSION=1.10` stays "1.10" and a boolean takes only true or false.
 */
export function parseVariableFlags(flags: readonly string[]): Record<string, Value> {
  const variables: Record<string, Value> = {};
  for (const flag of flags) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(flag);
    if (!match) {
      throw new RootstockError("ERR_CLI_BAD_SET", `--set ${JSON.stringify(flag)}: expected NAME=VALUE`, {
        hint: "for example --set BUILD_KERNEL=false",
      });
    }
    variables[match[1] as string] = match[2] as string;
  }
  return variables;
}
