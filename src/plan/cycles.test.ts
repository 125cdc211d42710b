import assert from "node:assert/strict";
import { test } from "node:test";
import { findCycles } from "./cycles.ts";

test("reports each cycle whole, starting from its first-listed step", () => {
  const cycles = findCycles([
    { name: "a", deps: ["c"] },
    { name: "b", deps: ["a"] },
    { name: "c", deps: ["b"] },
    { name: "d", deps: ["d"] },
    { name: "e", deps: ["a"] },
  ]);
  assert.deepEqual(cycles.map((cycle) => cycle.join(">")).sort(), ["a>c>b", "d"]);
});

test("an acyclic graph has no cycles, however deep", () => {
  const chain = Array.from({ length: 20_000 }, (_, index) => ({
    name: `s${index}`,
    deps: index === 0 ? [] : [`s${index - 1}`],
  }));
  assert.deepEqual(findCycles(chain), []);
});
