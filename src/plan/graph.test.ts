import assert from "node:assert/strict";
import { test } from "node:test";
import { RootstockErrors } from "../errors.ts";
import { resolveGraph, topologicalOrder } from "./graph.ts";
import { parsePredicate } from "./predicate.ts";
import type { Plan, Step } from "./types.ts";

function step(name: string, overrides: Partial<Step> = {}): Step {
  return {
    name,
    stage: "one",
    dir: `steps/${name}`,
    deps: [],
    sandbox: "bwrap",
    root: "host",
    retries: 0,
    tools: ["sh"],
    env: {},
    sources: [],
    mounts: [],
    patches: [],
    files: [],
    script: { path: "build.sh", sha256: "a".repeat(64), size: 10, executable: false },
    ...overrides,
  };
}

function plan(steps: Step[], variables: Plan["variables"] = {}): Plan {
  return {
    name: "p",
    arch: "x86_64",
    dir: "/p",
    displayDir: "p",
    variables,
    hostTools: ["sh"],
    hostPackages: [],
    stages: [{ name: "one", steps: steps.map((item) => item.name) }],
    steps: new Map(steps.map((item) => [item.name, item])),
    images: new Map(),
  };
}

const base = () => [step("a"), step("b", { deps: ["a"] }), step("c", { deps: ["b"] }), step("d")];

test("steps come in dependency order, listing order where free", () => {
  const graph = resolveGraph(
    plan([step("c", { deps: ["b"] }), step("b", { deps: ["a"] }), step("a"), step("d")]),
  );
  assert.deepEqual(
    graph.steps.map((item) => item.name),
    ["a", "b", "c", "d"],
  );
});

test("changing one step changes its key and its dependents' keys only", () => {
  const before = resolveGraph(plan(base()));
  const edited = base();
  edited[1] = step("b", { deps: ["a"], env: { CFLAGS: "-O3" } });
  const after = resolveGraph(plan(edited));
  const changed = before.steps
    .filter((item, index) => item.key !== after.steps[index]?.key)
    .map((item) => item.name);
  assert.deepEqual(changed, ["b", "c"]);
  assert.notEqual(after.byName.get("c")?.inputs["dep:b"], before.byName.get("c")?.inputs["dep:b"]);
});

test("the plan's arch, which every step is told, is in every key", () => {
  const x86 = resolveGraph(plan(base()));
  const arm = resolveGraph({ ...plan(base()), arch: "aarch64" });
  for (const [index, item] of x86.steps.entries()) {
    assert.notEqual(item.key, arm.steps[index]?.key, item.name);
    assert.equal(arm.steps[index]?.inputs.arch, "aarch64");
  }
});

test("an [env] value longer than Linux passes to a program is refused when the plan resolves", () => {
  const steps = [step("a", { env: { BIG: "${TEXT}${TEXT}" } })];
  const fits = resolveGraph(plan(steps, { TEXT: "x".repeat(60_000) }));
  assert.equal(fits.byName.get("a")?.env.BIG?.length, 120_000);
  assert.throws(
    () =>
      resolveGraph(plan(steps, { TEXT: "x".repeat(60_000) }), { variables: { TEXT: "x".repeat(70_000) } }),
    (error: unknown) =>
      error instanceof RootstockErrors &&
      error.errors.some(
        (inner) =>
          inner.code === "ERR_PLAN_ENV_TOO_LONG" &&
          inner.location.field === "env.BIG" &&
          /BIG is 137 KiB with its name, once variables are put in; Linux passes at most 128 KiB/.test(
            inner.message,
          ),
      ),
  );
});

test("what does not change the output does not change the key", () => {
  const before = resolveGraph(plan(base()));
  const after = resolveGraph(
    plan(base().map((item) => ({ ...item, retries: 3, timeoutMs: 1000, description: "now described" }))),
  );
  assert.deepEqual(
    after.steps.map((item) => item.key),
    before.steps.map((item) => item.key),
  );
});

test("host tool identities are in the key of host-rooted steps only", () => {
  const steps = [step("h"), step("hermetic", { root: "deps" })];
  const one = resolveGraph(plan(steps), { toolIdentities: { sh: "/bin/dash sha256:1" } });
  const two = resolveGraph(plan(steps), { toolIdentities: { sh: "/bin/dash sha256:2" } });
  assert.notEqual(one.byName.get("h")?.key, two.byName.get("h")?.key);
  assert.equal(one.byName.get("hermetic")?.key, two.byName.get("hermetic")?.key);
});

test("predicates disable steps; --set overrides; env interpolates", () => {
  const steps = [
    step("kernel", { when: { source: "BUILD_KERNEL", predicate: parsePredicate("BUILD_KERNEL") } }),
    step("tools", { env: { FLAVOUR: "${FLAVOUR}-x", PRICE: "$$5" } }),
  ];
  const on = resolveGraph(plan(steps, { BUILD_KERNEL: true, FLAVOUR: "tiny" }));
  assert.deepEqual(
    on.steps.map((item) => item.name),
    ["kernel", "tools"],
  );
  assert.deepEqual(on.byName.get("tools")?.env, { FLAVOUR: "tiny-x", PRICE: "$5" });
  const off = resolveGraph(plan(steps, { BUILD_KERNEL: true, FLAVOUR: "tiny" }), {
    variables: { BUILD_KERNEL: false },
  });
  assert.deepEqual(
    off.steps.map((item) => item.name),
    ["tools"],
  );
  assert.deepEqual(off.disabled, [{ name: "kernel", when: "BUILD_KERNEL" }]);
});

test("--set values take their variable's type: text stays as written, booleans take true or false", () => {
  const steps = [
    step("kernel", { when: { source: "BUILD_KERNEL", predicate: parsePredicate("BUILD_KERNEL") } }),
    step("tools", { env: { VERSION: "${VERSION}", JOBS: "${JOBS}" } }),
  ];
  const declared = { BUILD_KERNEL: false, VERSION: "1.0", JOBS: 1 };
  const graph = resolveGraph(plan(steps, declared), {
    variables: { BUILD_KERNEL: "true", VERSION: "1.10", JOBS: "007" },
  });
  assert.deepEqual(graph.byName.get("tools")?.env, { VERSION: "1.10", JOBS: "7" });
  assert.ok(graph.byName.has("kernel"));
  assert.equal(
    resolveGraph(plan(steps, declared), { variables: { VERSION: "007" } }).variables.VERSION,
    "007",
  );
  assert.equal(resolveGraph(plan(steps, declared), { variables: { JOBS: "1e3" } }).variables.JOBS, 1000);
  for (const [name, value] of [
    ["BUILD_KERNEL", "yes"],
    ["BUILD_KERNEL", "True"],
    ["JOBS", "many"],
    ["JOBS", "1e400"],
    ["JOBS", "1.5"],
  ] as const) {
    assert.throws(
      () => resolveGraph(plan(steps, declared), { variables: { [name]: value } }),
      (error: unknown) =>
        error instanceof RootstockErrors &&
        error.errors[0]?.code === "ERR_PLAN_BAD_SET" &&
        error.errors[0]?.location.field === `variables.${name}`,
    );
  }
});

test("a library caller's number for a number variable is a whole one, as plan.toml and --set require", () => {
  const steps = [step("tools", { env: { JOBS: "${JOBS}" } })];
  for (const value of [1.5, Number.NaN, Number.POSITIVE_INFINITY])
    assert.throws(
      () => resolveGraph(plan(steps, { JOBS: 1 }), { variables: { JOBS: value } }),
      (error: unknown) => error instanceof RootstockErrors && error.errors[0]?.code === "ERR_PLAN_BAD_SET",
    );
  assert.equal(
    resolveGraph(plan(steps, { JOBS: 1 }), { variables: { JOBS: 8 } }).byName.get("tools")?.env.JOBS,
    "8",
  );
});

test("targets select a step and what it needs; unknown ones are errors", () => {
  const graph = resolveGraph(plan(base()), { targets: ["b"] });
  assert.deepEqual(
    graph.steps.map((item) => item.name),
    ["a", "b"],
  );
  assert.throws(
    () => resolveGraph(plan(base()), { targets: ["bb"] }),
    (error: unknown) =>
      error instanceof RootstockErrors &&
      error.errors[0]?.code === "ERR_PLAN_UNKNOWN_STEP" &&
      /did you mean "b"/.test(error.errors[0]?.hint ?? ""),
  );
});

test("topological order is stable and complete", () => {
  const deps: Record<string, string[]> = { x: ["z"], y: [], z: ["y"] };
  assert.deepEqual(
    topologicalOrder(["x", "y", "z"], (name) => deps[name] ?? []),
    ["y", "z", "x"],
  );
});

test("a disabled step's predicate is quoted as TOML writes it", () => {
  const source = 'FLAVOUR != "none"';
  const steps = [step("kernel", { when: { source, predicate: parsePredicate(source) } })];
  assert.throws(
    () => resolveGraph(plan(steps, { FLAVOUR: "none" }), { targets: ["kernel"] }),
    (error: unknown) =>
      error instanceof RootstockErrors &&
      (error.errors[0]?.message ?? "").includes('is disabled by when = "FLAVOUR != \\"none\\""'),
  );
});

test("an [env] value holding a NUL (written, or from a variable) is refused when the plan resolves", () => {
  const steps = [step("a", { env: { SEP: "${SEP}" } })];
  assert.throws(
    () => resolveGraph(plan(steps, { SEP: "a\u0000b" })),
    (error: unknown) =>
      error instanceof RootstockErrors &&
      error.errors.some(
        (inner) =>
          inner.code === "ERR_PLAN_BAD_VALUE" &&
          inner.location.field === "env.SEP" &&
          /SEP holds a NUL character/.test(inner.message),
      ),
  );
});
