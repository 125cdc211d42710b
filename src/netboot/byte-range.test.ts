import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { answerRange } from "./byte-range.ts";

describe("answerRange", () => {
  test("no header: the whole representation", () => {
    assert.deepEqual(answerRange(undefined, 100), { kind: "full" });
  });

  test("one range, open-ended, and a suffix", () => {
    assert.deepEqual(answerRange("bytes=0-9", 100), { kind: "partial", start: 0, end: 9 });
    assert.deepEqual(answerRange("bytes=90-", 100), { kind: "partial", start: 90, end: 99 });
    assert.deepEqual(answerRange("bytes=-10", 100), { kind: "partial", start: 90, end: 99 });
    assert.deepEqual(answerRange("BYTES=5-5", 100), { kind: "partial", start: 5, end: 5 });
  });

  test("a last byte past the end is cut to the end; a suffix longer than the file is all of it", () => {
    assert.deepEqual(answerRange("bytes=50-1000", 100), { kind: "partial", start: 50, end: 99 });
    assert.deepEqual(answerRange("bytes=-1000", 100), { kind: "partial", start: 0, end: 99 });
    assert.deepEqual(answerRange("bytes=0-99999999999999999999999", 100), {
      kind: "partial",
      start: 0,
      end: 99,
    });
  });

  test("a range that starts at or past the end, or an empty suffix, is unsatisfiable", () => {
    assert.deepEqual(answerRange("bytes=100-", 100), { kind: "unsatisfiable" });
    assert.deepEqual(answerRange("bytes=100-200", 100), { kind: "unsatisfiable" });
    assert.deepEqual(answerRange("bytes=99999999999999999999999-", 100), { kind: "unsatisfiable" });
    assert.deepEqual(answerRange("bytes=-0", 100), { kind: "unsatisfiable" });
    assert.deepEqual(answerRange("bytes=0-", 0), { kind: "unsatisfiable" });
    assert.deepEqual(answerRange("bytes=-5", 0), { kind: "unsatisfiable" });
  });

  test("malformed headers and several ranges are ignored", () => {
    for (const header of [
      "bytes=",
      "bytes=-",
      "bytes=a-b",
      "bytes=1-2-3",
      "bytes=5-1",
      "bytes=0x10-",
      "bytes=+1-2",
      "bytes=1.5-2",
      "items=0-1",
      "bytes 0-1",
      "0-1",
      "",
      `bytes=${"1".repeat(300)}-`,
    ]) {
      assert.equal(answerRange(header, 100).kind, "ignored", header);
    }
    assert.deepEqual(answerRange("bytes=0-1,5-6", 100), { kind: "ignored", reason: "several ranges" });
    assert.deepEqual(answerRange("bytes=0-1, 200-300", 100), { kind: "ignored", reason: "several ranges" });
  });
});
