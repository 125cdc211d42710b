import assert from "node:assert/strict";
import { test } from "node:test";
import { canonicalJson, sha256Json, sha256Text } from "./digest.ts";

test("canonical JSON sorts keys at every depth and drops undefined members", () => {
  assert.equal(
    canonicalJson({ b: 1, a: { d: [3, { z: null, y: "x" }], c: undefined }, é: true, A: false }),
    '{"A":false,"a":{"d":[3,{"y":"x","z":null}]},"b":1,"é":true}',
  );
  assert.equal(canonicalJson([undefined, "s", 1.5]), '[null,"s",1.5]');
  assert.equal(canonicalJson(`quote"d`), JSON.stringify(`quote"d`));
});

test("equal values hash alike whatever their key order", () => {
  assert.equal(sha256Json({ a: 1, b: [1, 2] }), sha256Json({ b: [1, 2], a: 1 }));
  assert.equal(sha256Json({ a: 1 }), sha256Text('{"a":1}'));
});
