/**
 * Rules of the source that no linter checks for us. rootstock's modules take Node's built-in modules
 * with process.getBuiltinModule: an `import` of one makes Node build an ES module namespace for it,
 * which reads every lazy property (node:fs loads fs/promises, readline and streams that way). That
 * cost a no-op run about 7 ms of its start-up (docs/engine.md, "The no-op path").
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "node:test";

const root = join(import.meta.dirname, "..");

function modules(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return modules(path);
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts") ? [path] : [];
  });
}

test("rootstock's modules take Node's built-ins with process.getBuiltinModule, not import", () => {
  const offenders: string[] = [];
  for (const file of [...modules(join(root, "src")), join(root, "bin", "rootstock.js")]) {
    const text = readFileSync(file, "utf8");
    for (const match of text.matchAll(/^(?:import|export)\s+(?!type\s)[^;]*?\sfrom\s+"(node:[^"]+)"/gms)) {
      const line = text.slice(0, match.index).split("\n").length;
      offenders.push(`${relative(root, file)}:${line} imports ${match[1]}`);
    }
  }
  assert.deepEqual(
    offenders,
    [],
    'write `const { name } = process.getBuiltinModule("node:…")` instead; `import type` is fine',
  );
});
