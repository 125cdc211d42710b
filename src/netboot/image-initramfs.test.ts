import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { imageInitramfs } from "./image-initramfs.ts";

const work = await mkdtemp(join(tmpdir(), "rootstock-image-initramfs-"));
after(() => rm(work, { recursive: true, force: true }));

test("the RAM root's image is registered with the run that makes it, so that gc keeps it", async () => {
  const tree = join(work, "tree");
  await mkdir(join(tree, "bin"), { recursive: true });
  await writeFile(join(tree, "init"), "#!/bin/sh\n", { mode: 0o755 });
  const registered: string[] = [];
  const builder = imageInitramfs({
    storeDir: join(work, "store"),
    register: async (key) => {
      registered.push(key);
    },
  });
  const made = await builder.build({ name: "system-ram-root", dir: tree }, {});
  assert.equal(registered.length, 1);
  assert.match(registered[0] as string, /^[0-9a-f]{64}$/);
  assert.ok(made.path.includes(registered[0] as string), "the image registered is the one made");
});
