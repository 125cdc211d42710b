import assert from "node:assert/strict";
import { test } from "node:test";
import {
  evaluatePredicate,
  mismatchedComparisons,
  PredicateSyntaxError,
  parsePredicate,
  predicateVariables,
} from "./predicate.ts";

const holds = (source: string, variables: Record<string, string | number | boolean>) =>
  evaluatePredicate(parsePredicate(source), variables);

test("live-bootstrap style comparisons", () => {
  assert.equal(holds("( BUILD_KERNELS == True )", { BUILD_KERNELS: true }), true);
  assert.equal(holds("( BUILD_KERNELS == True )", { BUILD_KERNELS: false }), false);
  assert.equal(holds('ARCH != "i686"', { ARCH: "x86_64" }), true);
});

test("boolean operators, both spellings, with precedence", () => {
  const vars = { A: true, B: false, N: 3 };
  assert.equal(holds("A && B || !B", vars), true);
  assert.equal(holds("A and not B", vars), true);
  assert.equal(holds("!(A || B)", vars), false);
  assert.equal(holds("N == 3 && A", vars), true);
});

test("a bare variable is a truth test; strings from --set compare with booleans", () => {
  assert.equal(holds("FLAG", { FLAG: "false" }), false);
  assert.equal(holds("FLAG", { FLAG: "yes" }), true);
  assert.equal(holds("FLAG == true", { FLAG: "true" }), true);
});

test("syntax errors carry the column", () => {
  for (const [source, column] of [
    ["A ==", 5],
    ["(A", 3],
    ["A B", 3],
    ["A @ B", 3],
  ] as const) {
    assert.throws(
      () => parsePredicate(source),
      (error: unknown) => error instanceof PredicateSyntaxError && error.column === column,
      source,
    );
  }
});

test("the variables a predicate reads", () => {
  assert.deepEqual(predicateVariables(parsePredicate('A && (B == "x" || !C)')), ["A", "B", "C"]);
});

test("a string variable compares with a number as it is written", () => {
  assert.equal(holds("V == 1.10", { V: "1.10" }), true);
  assert.equal(holds("V == 1.10", { V: "1.1" }), false);
  assert.equal(holds("1.10 != V", { V: "1.10" }), false);
  assert.equal(holds("N == 1.10", { N: 1.1 }), true);
});

test("comparisons that can never hold, given the variables' types, are found", () => {
  const variables = { LEVEL: 2, FLAG: false, NAME: "tiny", VERSION: "1.10" };
  const mismatched = (source: string) => mismatchedComparisons(parsePredicate(source), variables);
  assert.deepEqual(mismatched('LEVEL == 2 && FLAG != true && NAME == "x" && VERSION == 1.10'), []);
  assert.deepEqual(mismatched("LEVEL == true"), ["LEVEL (a number) == true (a boolean)"]);
  assert.deepEqual(mismatched('!(FLAG == "true")'), ['FLAG (a boolean) == "true" (a string)']);
  assert.deepEqual(mismatched("LEVEL != NAME"), ["LEVEL (a number) != NAME (a string)"]);
  assert.deepEqual(mismatched("UNKNOWN == 1"), [], "an unknown variable is another problem");
  assert.deepEqual(mismatched('(LEVEL == 2) == "true"'), ['(a comparison, a boolean) == "true" (a string)']);
  assert.deepEqual(mismatched("(LEVEL == 2) == true && !FLAG == true"), []);
});

test("deep nesting and very long predicates are syntax errors, not a stack overflow", () => {
  const refused = (source: string, message: RegExp) =>
    assert.throws(
      () => parsePredicate(source),
      (error: unknown) => error instanceof PredicateSyntaxError && message.test(error.message),
    );
  refused(`${"!".repeat(5000)}A`, /at most 1000 characters/);
  refused(`${"(".repeat(65)}A${")".repeat(65)}`, /nested more than 64 deep/);
  refused(`${"!".repeat(65)}A`, /nested more than 64 deep/);
  refused(Array(300).fill("A").join(" && "), /at most 1000 characters/);
  // As deep as allowed, and as long: still fine.
  assert.equal(holds(`${"(".repeat(64)}A${")".repeat(64)}`, { A: true }), true);
  assert.equal(holds(`${"!".repeat(64)}A`, { A: true }), true);
  assert.equal(holds(Array(200).fill("A").join(" && "), { A: true }), true);
});
