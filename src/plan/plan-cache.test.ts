import assert from "node:assert/strict";
import {
  cp,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import type { RootstockErrors } from "../errors.ts";
import type { Graph, ResolveOptions } from "./graph.ts";
import { loadPlanCached, openPlanCache } from "./plan-cache.ts";

let base: string;
let planDir: string;
let cacheDir: string;
const later = () => Date.now() + 60_000;

before(async () => {
  base = await mkdtemp(join(tmpdir(), "rootstock-plan-cache-"));
  planDir = join(base, "plan");
  cacheDir = join(base, "cache");
  await writeFiles(planDir, {
    "plan.toml": 'name = "cached"\narch = "x86_64"\n[[stages]]\nname = "s"\nsteps = ["one"]\n',
    "steps/one/step.toml": 'version = "1"\n',
    "steps/one/build.sh": "do_install() { :; }\n",
  });
});
after(() => rm(base, { recursive: true, force: true }));

/** Writes each file (its path relative to `dir`), making its folders. */
async function writeFiles(dir: string, files: Record<string, string>): Promise<void> {
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
}

test("a plan whose files did not change comes from the cache, equal to a fresh load", async () => {
  const fresh = await loadPlanCached(planDir, { cacheDir, nowMs: later() });
  assert.equal((await readdir(join(cacheDir, "plans"))).length, 1);
  const cached = await loadPlanCached(planDir, { cacheDir, nowMs: later() });
  assert.deepEqual(cached, fresh);
  assert.ok(cached.steps instanceof Map);
});

test("a plan named from another working folder still comes from the cache, and is shown as named", async () => {
  const file = join(cacheDir, "plans", (await readdir(join(cacheDir, "plans")))[0] as string);
  const before = await stat(file);
  const elsewhere = await loadPlanCached(planDir, { cacheDir, nowMs: later(), displayDir: "../far/plan" });
  assert.equal(elsewhere.displayDir, "../far/plan");
  assert.equal((await stat(file)).ino, before.ino, "a hit leaves the cache file as it was");
  const here = await loadPlanCached(planDir, { cacheDir, nowMs: later() });
  assert.equal(here.displayDir, planDir);
});

test("any change to a file of the plan is seen", async () => {
  await writeFile(join(planDir, "steps", "one", "build.sh"), "do_install() { echo changed; }\n");
  const edited = await loadPlanCached(planDir, { cacheDir, nowMs: later() });
  const script = edited.steps.get("one")?.script;
  assert.equal(script?.size, "do_install() { echo changed; }\n".length);

  await mkdir(join(planDir, "steps", "one", "files"));
  await writeFile(join(planDir, "steps", "one", "files", "new.txt"), "new\n");
  const added = await loadPlanCached(planDir, { cacheDir, nowMs: later() });
  assert.deepEqual(
    added.steps.get("one")?.files.map((file) => file.path),
    ["new.txt"],
  );
});

test("a plan with a file changed within the last two seconds is not cached (racy timestamps)", async () => {
  const racyCache = join(base, "racy-cache");
  await writeFile(join(planDir, "steps", "one", "step.toml"), 'version = "2"\n');
  const now = Date.now();
  await loadPlanCached(planDir, { cacheDir: racyCache, nowMs: now });
  assert.deepEqual(await readdir(racyCache).catch(() => []), []);
  // Once the files are old enough, it is.
  const old = new Date(now - 10_000);
  await utimes(join(planDir, "steps", "one", "step.toml"), old, old);
  await loadPlanCached(planDir, { cacheDir: racyCache, nowMs: later() });
  assert.equal((await readdir(join(racyCache, "plans"))).length, 1);
});

test("a file added to or removed from a listed folder is seen, without reading folders on a hit", async () => {
  const dir = join(base, "listed");
  const cache = join(base, "listed-cache");
  await writeFiles(dir, {
    "plan.toml": 'name = "listed"\narch = "x86_64"\n[[stages]]\nname = "s"\nsteps = ["one"]\n',
    "steps/one/step.toml": 'version = "1"\n',
    "steps/one/files/a.txt": "a\n",
  });
  const first = await loadPlanCached(dir, { cacheDir: cache, nowMs: later() });
  assert.deepEqual(
    first.steps.get("one")?.files.map((file) => file.path),
    ["a.txt"],
  );
  await writeFile(join(dir, "steps", "one", "files", "b.txt"), "b\n");
  const added = await loadPlanCached(dir, { cacheDir: cache, nowMs: later() });
  assert.deepEqual(
    added.steps.get("one")?.files.map((file) => file.path),
    ["a.txt", "b.txt"],
  );
  await rm(join(dir, "steps", "one", "files", "a.txt"));
  const removed = await loadPlanCached(dir, { cacheDir: cache, nowMs: later() });
  assert.deepEqual(
    removed.steps.get("one")?.files.map((file) => file.path),
    ["b.txt"],
  );
});

test("a resolved graph comes from the cache per variables and targets, equal to a fresh one", async () => {
  const dir = join(base, "graphs");
  const cache = join(base, "graphs-cache");
  await writeFiles(dir, {
    "plan.toml":
      'name = "graphs"\narch = "x86_64"\n[variables]\nFLAVOUR = "plain"\n[[stages]]\nname = "s"\nsteps = ["base", "top"]\n',
    "steps/base/step.toml": 'version = "1"\n[env]\nFLAVOUR = "${FLAVOUR}"\n',
    "steps/top/step.toml": 'version = "1"\ndeps = ["base"]\n',
  });
  const variants: ResolveOptions[] = [{}, { variables: { FLAVOUR: "spicy" } }, { targets: ["base"] }];
  const fresh = await openPlanCache(dir, { cacheDir: cache, nowMs: later() });
  const expected = variants.map((options) => fresh.resolve(options));
  assert.equal(expected[0]?.steps[0]?.env.FLAVOUR, "plain");
  assert.equal(expected[1]?.steps[0]?.env.FLAVOUR, "spicy");
  assert.notEqual(expected[0]?.steps[0]?.key, expected[1]?.steps[0]?.key);
  assert.deepEqual(
    expected[2]?.steps.map((step) => step.name),
    ["base"],
  );
  const again = await openPlanCache(dir, { cacheDir: cache, nowMs: later() });
  for (const [index, options] of variants.entries()) {
    const cached = again.resolve(options);
    const want = expected[index] as Graph;
    // From the cache: key inputs are resolved again only when read.
    assert.equal(Object.getOwnPropertyDescriptor(cached.steps[0], "inputs"), undefined);
    assert.deepEqual(
      cached.steps.map(({ name, key, env, inputs, stageIndex }) => ({ name, key, env, inputs, stageIndex })),
      want.steps.map(({ name, key, env, inputs, stageIndex }) => ({ name, key, env, inputs, stageIndex })),
    );
    assert.equal(cached.digest, want.digest);
    assert.deepEqual(cached.variables, want.variables);
    assert.equal(cached.byName.get("base")?.step, again.plan.steps.get("base"));
  }
  // Unknown variables are refused as before, and not cached.
  assert.throws(
    () => again.resolve({ variables: { NOPE: 1 } }),
    (error: RootstockErrors) => error.errors.some((problem) => /no variable "NOPE"/.test(problem.message)),
  );
});

test("a cache written by another install of rootstock is not used: its keys may be computed otherwise", async () => {
  // Another install: a copy of rootstock's code whose keys differ, as an older or newer version's may.
  const install = join(base, "other-install");
  const repo = join(import.meta.dirname, "..", "..");
  await cp(join(repo, "src"), join(install, "src"), { recursive: true });
  await symlink(join(repo, "node_modules"), join(install, "node_modules"));
  const digest = join(install, "src", "digest.ts");
  const code = await readFile(digest, "utf8");
  await writeFile(
    digest,
    code.replace(
      "return sha256Text(canonicalJson(value));",
      "return sha256Text(`v0${canonicalJson(value)}`);",
    ),
  );
  const other: typeof import("./plan-cache.ts") = await import(join(install, "src", "plan", "plan-cache.ts"));

  const cache = join(base, "shared-cache");
  const theirs = (await other.openPlanCache(planDir, { cacheDir: cache, nowMs: later() })).resolve({});
  const ours = (await openPlanCache(planDir, { cacheDir: cache, nowMs: later() })).resolve({});
  const fresh = (await openPlanCache(planDir, {})).resolve({});
  assert.notEqual(theirs.steps[0]?.key, fresh.steps[0]?.key, "the other install keys otherwise");
  assert.equal(ours.steps[0]?.key, fresh.steps[0]?.key);
  // And the other way round, once this install has written the cache.
  const theirsAgain = (await other.openPlanCache(planDir, { cacheDir: cache, nowMs: later() })).resolve({});
  assert.equal(theirsAgain.steps[0]?.key, theirs.steps[0]?.key);
});
