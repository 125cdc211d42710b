import assert from "node:assert/strict";
import { test } from "node:test";
import { KeyLocator } from "./locate.ts";

const text = `name = "x" # comment with = sign
description = """
not = a key
"""
deps = [
  "a",
  { not = "a key" },
]

[[sources]]
url = "https://example.org/a"
debian = { package = "a", version = "1" }

[[sources]]
sha256 = "abc"

[sources.debian]
file = "b"

[env]
"QUOTED.KEY" = "v"
a.b = 1
`;

test("keys, tables and arrays of tables have lines", () => {
  const locator = new KeyLocator(text);
  assert.equal(locator.lineOf(["name"]), 1);
  assert.equal(locator.lineOf(["description"]), 2);
  assert.equal(locator.lineOf(["deps"]), 5);
  assert.equal(locator.lineOf(["sources", 0, "url"]), 11);
  assert.equal(locator.lineOf(["sources", 0, "debian", "version"]), 12);
  assert.equal(locator.lineOf(["sources", 1, "sha256"]), 15);
  assert.equal(locator.lineOf(["sources", 1, "debian", "file"]), 18);
  assert.equal(locator.lineOf(["env", "QUOTED.KEY"]), 21);
  assert.equal(locator.lineOf(["env", "a", "b"]), 22);
});

test("what it cannot see falls back to the nearest enclosing key", () => {
  const locator = new KeyLocator(text);
  assert.equal(locator.lineOf(["deps", 1]), 5);
  assert.equal(locator.lineOf(["sources", 1, "missing"]), 14);
  assert.equal(locator.lineOf(["nowhere"]), undefined);
});

test("text inside multi-line strings and arrays is not taken for keys", () => {
  const locator = new KeyLocator(text);
  assert.equal(locator.lineOf(["not"]), undefined);
});

test("a file with Windows line ends has the same lines", () => {
  const unix = new KeyLocator(text);
  const windows = new KeyLocator(text.replaceAll("\n", "\r\n"));
  for (const path of [
    ["name"],
    ["deps"],
    ["sources", 0, "url"],
    ["sources", 1, "debian", "file"],
    ["env", "a", "b"],
  ])
    assert.equal(windows.lineOf(path), unix.lineOf(path), path.join("."));
});

test("a field as errors name it finds its line, or its nearest written parent's", () => {
  const locator = new KeyLocator(text);
  assert.equal(locator.lineOfField("sources[1].sha256"), 15);
  assert.equal(locator.lineOfField("sources[1].debian.file"), 18);
  assert.equal(locator.lineOfField("sources[0].debian.version"), 12);
  assert.equal(locator.lineOfField("env.a.b"), 22);
  assert.equal(locator.lineOfField("env.nothing"), 20);
  assert.equal(locator.lineOfField("nowhere"), undefined);
  assert.equal(locator.lineOfField(""), undefined);
});
