/**
 * From a loaded plan to the steps that will run, in order, each with its key: the hash of everything
 * that can change its output. Pure: no disk, no processes.
 */
import { sha256Json } from "../digest.ts";
import { RootstockError, RootstockErrors } from "../errors.ts";
import { formatBytes, inlineName } from "../units.ts";
import { evaluatePredicate, type Value } from "./predicate.ts";
import { didYouMean } from "./suggest.ts";
import type { Plan, Step } from "./types.ts";

/** Bumped whenever the way a step is run changes (phases, sandbox layout), so old entries are not reused. */
export const RUNNER_VERSION = "rootstock-runner-1";

export interface ResolveOptions {
  /** Values that override the plan's variables (`--set NAME=VALUE`). */
  variables?: Record<string, Value>;
  /** Identity (path, hash, version) of each host tool, for steps whose root includes the host's. */
  toolIdentities?: Record<string, string>;
  /** Build only these steps and what they need (default: all enabled steps). */
  targets?: string[];
}

export interface ResolvedStep {
  name: string;
  step: Step;
  key: string;
  /** Each input that went into the key, by name (`script`, `dep:musl`, `source:x.tar.gz`…), for --explain. */
  inputs: Record<string, string>;
  /** The step's environment with `${VAR}` replaced. */
  env: Record<string, string>;
  stageIndex: number;
}

export interface Graph {
  plan: Plan;
  variables: Record<string, Value>;
  /** Enabled steps in dependency order (stage order, then listing order, where free to choose). */
  steps: ResolvedStep[];
  byName: Map<string, ResolvedStep>;
  /** Steps whose `when` is false, with the predicate. */
  disabled: { name: string; when: string }[];
  /** sha256 of the steps' keys in order: exactly what the graph builds, local changes included. */
  digest: string;
}

export function graphDigest(steps: readonly ResolvedStep[]): string {
  return sha256Json(steps.map((step) => step.key));
}

export function usesHostTools(step: Step): boolean {
  return step.sandbox === "host" || step.root === "host";
}

export function interpolate(value: string, variables: Record<string, Value>): string {
  return value.replace(/\$\$|\$\{([^}]*)\}/g, (match, name: string | undefined) =>
    name === undefined ? "$" : String(variables[name] ?? match),
  );
}

/** A `--set` value as the type of the variable it sets: text is kept as written, else it must parse. */
function asTypeOf(declared: Value, value: Value): Value | undefined {
  // A number variable holds whole numbers only (plan.toml refuses 1.5 too): a library caller's NaN is none.
  if (typeof value === "number")
    return typeof declared === "number" && Number.isSafeInteger(value) ? value : undefined;
  if (typeof value === typeof declared) return value;
  if (typeof value !== "string") return undefined;
  if (typeof declared === "string") return value;
  if (typeof declared === "boolean") return value === "true" ? true : value === "false" ? false : undefined;
  const number = /^[+-]?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(value) ? Number(value) : undefined;
  // 1e400 is Infinity, which plan.toml cannot hold either; a fraction is refused there as here.
  return number !== undefined && Number.isSafeInteger(number) ? number : undefined;
}

export function resolveGraph(plan: Plan, options: ResolveOptions = {}): Graph {
  const variables: Record<string, Value> = { ...plan.variables };
  const problems: RootstockError[] = [];
  const planFile = `${plan.displayDir}/plan.toml`;

  for (const [name, value] of Object.entries(options.variables ?? {})) {
    const declared = plan.variables[name];
    if (declared === undefined) {
      problems.push(
        new RootstockError("ERR_PLAN_UNKNOWN_VARIABLE", `--set ${name}: the plan has no variable "${name}"`, {
          file: planFile,
          field: "variables",
          hint:
            didYouMean(name, Object.keys(plan.variables)) ||
            `variables of this plan: ${Object.keys(plan.variables).join(", ") || "none"}`,
        }),
      );
      continue;
    }
    const typed = asTypeOf(declared, value);
    if (typed === undefined) {
      problems.push(
        new RootstockError(
          "ERR_PLAN_BAD_SET",
          `--set ${name}=${String(value)}: ${name} is a ${typeof declared} (${JSON.stringify(declared)} in plan.toml)`,
          {
            file: planFile,
            field: `variables.${name}`,
            hint:
              typeof declared === "boolean"
                ? "use true or false"
                : "give a whole number, such as 4, -2 or 1e3 (a variable that needs a fraction is a string)",
          },
        ),
      );
      continue;
    }
    variables[name] = typed;
  }

  const order = [...plan.steps.keys()];
  const position = new Map(order.map((name, index) => [name, index]));
  const stageIndex = new Map<string, number>();
  plan.stages.forEach((stage, index) => {
    for (const name of stage.steps) stageIndex.set(name, index);
  });

  const enabled = new Set<string>();
  const disabled: Graph["disabled"] = [];
  for (const step of plan.steps.values()) {
    if (!step.when || evaluatePredicate(step.when.predicate, variables)) enabled.add(step.name);
    else disabled.push({ name: step.name, when: step.when.source });
  }
  let wanted = enabled;
  if (options.targets && options.targets.length > 0) {
    wanted = new Set<string>();
    const visit = (name: string) => {
      if (wanted.has(name)) return;
      wanted.add(name);
      for (const dep of plan.steps.get(name)?.deps ?? []) visit(dep);
    };
    for (const target of options.targets) {
      if (!plan.steps.has(target)) {
        problems.push(
          new RootstockError("ERR_PLAN_UNKNOWN_STEP", `no step named "${target}" in plan ${plan.name}`, {
            hint: didYouMean(target, order) || `steps: ${order.join(", ")}`,
          }),
        );
      } else if (!enabled.has(target)) {
        problems.push(
          new RootstockError(
            "ERR_PLAN_DEP_DISABLED",
            `step "${target}" is disabled by when = ${JSON.stringify(plan.steps.get(target)?.when?.source)}`,
            {
              ...whenLocation(plan, target),
              hint: "set the plan's variables with --set NAME=VALUE to enable it",
            },
          ),
        );
      } else visit(target);
    }
  }

  // Only the steps to build matter: a disabled step may be needed by a step that is not built now.
  for (const name of wanted) {
    const step = plan.steps.get(name) as Step;
    for (const dep of step.deps) {
      if (!enabled.has(dep)) {
        const when = plan.steps.get(dep)?.when?.source ?? "";
        problems.push(
          new RootstockError(
            "ERR_PLAN_DEP_DISABLED",
            `step "${name}" needs "${dep}", which is disabled by when = ${JSON.stringify(when)}`,
            {
              file: `${plan.displayDir}/${step.dir}/step.toml`,
              field: "deps",
              hint: `give "${name}" the same predicate, or set the variables so that "${dep}" is enabled`,
            },
          ),
        );
      }
    }
  }

  if (problems.length > 0) {
    throw new RootstockErrors(
      "ERR_PLAN_INVALID",
      `plan ${inlineName(plan.displayDir)} cannot be resolved`,
      problems,
    );
  }

  const sorted = topologicalOrder(
    [...wanted].sort((a, b) => (position.get(a) as number) - (position.get(b) as number)),
    (name) => plan.steps.get(name)?.deps ?? [],
  );

  const byName = new Map<string, ResolvedStep>();
  const steps: ResolvedStep[] = [];
  for (const name of sorted) {
    const step = plan.steps.get(name) as Step;
    const env = Object.fromEntries(
      Object.entries(step.env).map(([key, value]) => [key, interpolate(value, variables)]),
    );
    checkEnvSize(plan, step, env, problems);
    const inputs = keyInputs(step, plan.arch, env, byName, options.toolIdentities ?? {});
    const resolved: ResolvedStep = {
      name,
      step,
      key: sha256Json({ step: name, inputs }),
      inputs,
      env,
      stageIndex: stageIndex.get(name) ?? 0,
    };
    byName.set(name, resolved);
    steps.push(resolved);
  }
  if (problems.length > 0) {
    throw new RootstockErrors(
      "ERR_PLAN_INVALID",
      `plan ${inlineName(plan.displayDir)} cannot be resolved`,
      problems,
    );
  }
  // With targets, the steps their `when` disables are not part of what was asked for.
  const told = options.targets && options.targets.length > 0 ? [] : disabled;
  return { plan, variables, steps, byName, disabled: told, digest: graphDigest(steps) };
}

/** Linux's limit on one environment string (NAME=value and its NUL): execve refuses a longer one. */
const MAX_ENV_STRING = 128 * 1024;
/** What a step's [env] may take of the room execve has for arguments and environment (2 MiB here). */
const MAX_ENV_TOTAL = 1024 * 1024;

/** A value past what the kernel passes to a program fails at run time as E2BIG; it is found here. */
function checkEnvSize(plan: Plan, step: Step, env: Record<string, string>, problems: RootstockError[]): void {
  const file = `${plan.displayDir}/${step.dir}/step.toml`;
  let total = 0;
  for (const [name, value] of Object.entries(env)) {
    const bytes = Buffer.byteLength(name) + Buffer.byteLength(value) + 2;
    total += bytes;
    // A C string ends at its first NUL: no process can be given such a value.
    if (value.includes("\0"))
      problems.push(
        new RootstockError("ERR_PLAN_BAD_VALUE", `${name} holds a NUL character once variables are put in`, {
          file,
          field: `env.${name}`,
          hint: "an environment variable cannot hold \\u0000; remove it from the value (or the variable it comes from)",
        }),
      );
    if (bytes > MAX_ENV_STRING)
      problems.push(
        new RootstockError(
          "ERR_PLAN_ENV_TOO_LONG",
          `${name} is ${formatBytes(bytes)} with its name, once variables are put in; Linux passes at most ${formatBytes(MAX_ENV_STRING)} per variable`,
          {
            file,
            field: `env.${name}`,
            hint: "put long text in a file under files/ and read it from $FILES in the script",
          },
        ),
      );
  }
  if (total > MAX_ENV_TOTAL)
    problems.push(
      new RootstockError(
        "ERR_PLAN_ENV_TOO_LONG",
        `[env] comes to ${formatBytes(total)} once variables are put in; rootstock passes at most ${formatBytes(MAX_ENV_TOTAL)} to a step`,
        {
          file,
          field: "env",
          hint: "put long text in files under files/ and read them from $FILES in the script",
        },
      ),
    );
}

/** Where a step's `when` is written, for messages about the steps it disables. */
export function whenLocation(plan: Plan, name: string): { file: string; line?: number; field: string } {
  const step = plan.steps.get(name);
  const line = step?.when?.line;
  return {
    file: `${plan.displayDir}/${step?.dir ?? `steps/${name}`}/step.toml`,
    ...(line === undefined ? {} : { line }),
    field: "when",
  };
}

function keyInputs(
  step: Step,
  arch: string,
  env: Record<string, string>,
  resolved: Map<string, ResolvedStep>,
  tools: Record<string, string>,
): Record<string, string> {
  const inputs: Record<string, string> = {
    rootstock: RUNNER_VERSION,
    // Every step is told it ($ROOTSTOCK_ARCH), as it is told its name (in the key beside these).
    arch,
    definition: sha256Json(definitionFields(step, env)),
    script: step.script ? sha256Json(step.script) : "default-phases",
    files: sha256Json(step.files),
  };
  for (const patch of step.patches) inputs[`patch:${patch.path}`] = patch.sha256;
  for (const source of step.sources) inputs[`source:${source.file}`] = source.sha256;
  for (const dep of step.deps) inputs[`dep:${dep}`] = (resolved.get(dep) as ResolvedStep).key;
  if (usesHostTools(step)) {
    for (const tool of step.tools) inputs[`tool:${tool}`] = tools[tool] ?? "unknown";
  }
  return inputs;
}

/** What a step's `definition` key input hashes: its settings from step.toml, as resolved. */
function definitionFields(step: Step, env: Record<string, string>) {
  return {
    version: step.version,
    sandbox: step.sandbox,
    root: step.root,
    env,
    mounts: step.mounts,
    sources: step.sources.map(({ file, sha256, extract, into }) => ({ file, sha256, extract, into })),
    patches: step.patches.map((patch) => patch.path),
    deps: step.deps,
  };
}

/**
 * The `definition` input hashed field by field (`version`, `env.NAME`…), so that --explain can name
 * what changed in it. Not part of the key, which hashes the fields together.
 */
export function definitionParts(resolved: Pick<ResolvedStep, "step" | "env">): Record<string, string> {
  const { env, ...fields } = definitionFields(resolved.step, resolved.env);
  const parts: Record<string, string> = {};
  for (const [name, value] of Object.entries(fields)) parts[name] = sha256Json(value);
  for (const [name, value] of Object.entries(env)) parts[`env.${name}`] = sha256Json(value);
  return parts;
}

/** Kahn's algorithm, taking ready steps in the given order so that the result is stable. */
export function topologicalOrder(
  names: readonly string[],
  depsOf: (name: string) => readonly string[],
): string[] {
  const inSet = new Set(names);
  const remaining = new Map(names.map((name) => [name, depsOf(name).filter((dep) => inSet.has(dep)).length]));
  const dependents = new Map<string, string[]>();
  for (const name of names) {
    for (const dep of depsOf(name))
      if (inSet.has(dep)) dependents.set(dep, [...(dependents.get(dep) ?? []), name]);
  }
  const rank = new Map(names.map((name, index) => [name, index]));
  const ready = names.filter((name) => remaining.get(name) === 0);
  const result: string[] = [];
  while (ready.length > 0) {
    ready.sort((a, b) => (rank.get(a) as number) - (rank.get(b) as number));
    const name = ready.shift() as string;
    result.push(name);
    for (const dependent of dependents.get(name) ?? []) {
      const left = (remaining.get(dependent) as number) - 1;
      remaining.set(dependent, left);
      if (left === 0) ready.push(dependent);
    }
  }
  return result;
}
