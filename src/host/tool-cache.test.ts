import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { checkHost, planRequirements } from "./doctor.ts";
import { identifyToolsCached } from "./tool-cache.ts";

let base: string;
before(async () => {
  base = await mkdtemp(join(tmpdir(), "rootstock-tools-"));
});
after(() => rm(base, { recursive: true, force: true }));

test("tool identities are remembered between processes while the binary is unchanged", async () => {
  const cacheFile = join(base, "tools.json");
  const first = await identifyToolsCached(["sh"], { cacheFile });
  const identity = first.get("sh");
  assert.ok(identity);
  const cache = JSON.parse(await readFile(cacheFile, "utf8"));
  const entry = cache[identity.path];
  assert.equal(entry.identity.sha256, identity.sha256);

  // A doctored cache entry with the binary's real signature is believed: nothing was run or hashed.
  entry.identity.version = "from the cache";
  await writeFile(cacheFile, JSON.stringify(cache));
  assert.equal((await identifyToolsCached(["sh"], { cacheFile })).get("sh")?.version, "from the cache");

  // One whose signature no longer matches is not.
  entry.signature = "0:0:0:0:0";
  await writeFile(cacheFile, JSON.stringify(cache));
  assert.equal((await identifyToolsCached(["sh"], { cacheFile })).get("sh")?.version, identity.version);
});

test("a declared tool is the one steps run (their PATH), not one earlier on rootstock's own PATH", async () => {
  const fakebin = join(base, "fakebin");
  await mkdir(fakebin);
  await writeFile(join(fakebin, "sh"), "#!/bin/sh\n", { mode: 0o755 });
  const path = process.env.PATH;
  process.env.PATH = `${fakebin}:${path}`;
  try {
    for (const identities of [
      await identifyToolsCached(["sh"], { cacheFile: join(base, "path.json") }),
      await identifyToolsCached(["sh"]),
    ]) {
      const sh = identities.get("sh");
      assert.ok(sh && !sh.path.startsWith(fakebin), String(sh?.path));
    }
    const [finding] = await checkHost(planRequirements(["sh"]));
    assert.ok(finding?.found && !finding.found.startsWith(fakebin), String(finding?.found));
  } finally {
    process.env.PATH = path;
  }
});
