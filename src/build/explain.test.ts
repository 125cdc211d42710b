import assert from "node:assert/strict";
import { test } from "node:test";
import type { ResolvedStep } from "../plan/graph.ts";
import type { StepBuild } from "../store/step-history.ts";
import { changedInputs } from "./explain.ts";

const step = (inputs: Record<string, string>) =>
  ({ name: "nap", key: "now", inputs }) as unknown as ResolvedStep;
const build = (inputs: Record<string, string>): StepBuild => ({
  key: "then",
  inputs,
  status: "done",
  runId: "r",
});

test("an input of rootstock's own that the earlier build lacks is said to be new to rootstock's keys, not an edit", () => {
  const now = step({ rootstock: "5", arch: "x86_64", script: "s", "dep:bb": "new" });
  const then = build({ rootstock: "5", script: "s", "dep:bb": "old" });
  assert.deepEqual(changedInputs(now, then), [
    "arch (not keyed on by the rootstock that made that build)",
    "dep:bb",
  ]);
  assert.deepEqual(changedInputs(step({ rootstock: "5" }), build({ rootstock: "5", arch: "x86_64" })), [
    "arch (no longer keyed on)",
  ]);
});

test("inputs of the plan that come or go (a dependency, a patch) and changed inputs are named plainly", () => {
  const now = step({ arch: "x86_64", script: "s2", "patch:01.patch": "p" });
  const then = build({ arch: "x86_64", script: "s1", "dep:gone": "k" });
  assert.deepEqual(changedInputs(now, then), ["dep:gone", "patch:01.patch", "script"]);
});
