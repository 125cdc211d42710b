import assert from "node:assert/strict";
import { test } from "node:test";
import { formatDuration, parseDuration, parseSize } from "./units.ts";

test("durations", () => {
  assert.equal(parseDuration("90s"), 90_000);
  assert.equal(parseDuration("1h30m"), 5_400_000);
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration(45), 45_000);
  for (const bad of ["soon", "", "10", "-5s", "1x"]) assert.equal(parseDuration(bad), undefined, bad);
  assert.equal(parseDuration(0), undefined);
  assert.equal(formatDuration(65_000), "1m05s");
});

test("sizes", () => {
  assert.equal(parseSize("64M"), 64 * 1024 * 1024);
  assert.equal(parseSize("1GiB"), 1024 ** 3);
  assert.equal(parseSize(4096), 4096);
  assert.equal(parseSize("big"), undefined);
});
