import assert from "node:assert/strict";
import { test } from "node:test";
import { lineFitter } from "./fit-line.ts";

test("a status line is cut by display columns: a wide character takes two", async () => {
  const fit = lineFitter(true);
  // cli-truncate is loaded when the fitter is made.
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(fit("▶ initrd wide › 日本語のテスト名前がとても長い", 24), "▶ initrd wide › 日本語…");
  assert.equal(fit("short", 24), "short");
});

test("off a terminal, or before it is loaded, by characters", () => {
  const fit = lineFitter(false);
  assert.equal(fit("abcdefghij", 6), "abcde…");
  assert.equal(fit("abc", 6), "abc");
});
