import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { loadPlanCached } from "./plan-cache.ts";

let base: string;
let planDir: string;
let cacheDir: string;
const later = () => Date.now() + 60_000;

before(async () => {
  base = await mkdtemp(join(tmpdir(), "rootstock-plan-cache-"));
  planDir = join(base, "plan");
  cacheDir = join(base, "cache");
  await mkdir(join(planDir, "steps", "one"), { recursive: true });
  await writeFile(
    join(planDir, "plan.toml"),
    'name = "cached"\narch = "x86_64"\n[[stages]]\nname = "s"\nsteps = ["one"]\n',
  );
  await writeFile(join(planDir, "steps", "one", "step.toml"), 'version = "1"\n');
  await writeFile(join(planDir, "steps", "one", "build.sh"), "do_install() { :; }\n");
});
after(() => rm(base, { recursive: true, force: true }));

test("a plan whose files did not change comes from the cache, equal to a fresh load", async () => {
  const fresh = await loadPlanCached(planDir, { cacheDir, nowMs: later() });
  assert.equal((await readdir(join(cacheDir, "plans"))).length, 1);
  const cached = await loadPlanCached(planDir, { cacheDir, nowMs: later() });
  assert.deepEqual(cached, fresh);
  assert.ok(cached.steps instanceof Map);
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
