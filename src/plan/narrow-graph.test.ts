import assert from "node:assert/strict";
import { test } from "node:test";
import { RootstockError } from "../errors.ts";
import { resolveGraph } from "./graph.ts";
import { narrowGraph } from "./narrow-graph.ts";
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
    ...overrides,
  };
}

const steps = [
  step("libc"),
  step("busybox", { deps: ["libc"] }),
  step("linux"),
  step("docs", { when: { source: "DOCS == true", predicate: parsePredicate("DOCS == true") } }),
];
const plan: Plan = {
  name: "p",
  arch: "x86_64",
  dir: "/p",
  displayDir: "p",
  variables: { DOCS: false },
  hostTools: ["sh"],
  hostPackages: [],
  stages: [{ name: "one", steps: steps.map((item) => item.name) }],
  steps: new Map(steps.map((item) => [item.name, item])),
  images: new Map(),
};

test("a narrowed graph holds the targets and their dependencies, in order, with the same keys", () => {
  const graph = resolveGraph(plan);
  const narrow = narrowGraph(graph, ["busybox"]);
  assert.deepEqual(
    narrow.steps.map((item) => item.name),
    ["libc", "busybox"],
  );
  assert.equal(narrow.byName.get("busybox")?.key, graph.byName.get("busybox")?.key);
  assert.equal(narrow.byName.has("linux"), false);
  assert.deepEqual(
    resolveGraph(plan, { targets: ["busybox"] }).steps.map((item) => item.key),
    narrow.steps.map((item) => item.key),
  );
});

test("a disabled or unknown target is an error naming what needs it", () => {
  const graph = resolveGraph(plan);
  assert.throws(
    () => narrowGraph(graph, ["docs"], { neededBy: "image manual" }),
    (error: unknown) => {
      assert.ok(error instanceof RootstockError);
      assert.equal(error.code, "ERR_PLAN_DEP_DISABLED");
      assert.match(
        error.message,
        /step "docs", needed by image manual, is disabled by when = "DOCS == true"/,
      );
      assert.match(error.headline, /steps\/docs\/step\.toml: when: /);
      return true;
    },
  );
  assert.throws(
    () => narrowGraph(graph, ["linx"]),
    (error: unknown) => error instanceof RootstockError && /linux/.test(error.hint ?? ""),
  );
});
