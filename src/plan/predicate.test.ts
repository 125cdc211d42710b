import assert from "node:assert/strict";
import { test } from "node:test";
import { evaluatePredicate, PredicateSyntaxError, parsePredicate, predicateVariables } from "./predicate.ts";

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
