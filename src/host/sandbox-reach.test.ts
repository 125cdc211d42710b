import assert from "node:assert/strict";
import { lstatSync } from "node:fs";
import { mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { outOfSandbox } from "./sandbox-reach.ts";

let work: string | undefined;
after(() => (work ? rm(work, { recursive: true, force: true }) : undefined));

test("a tool under /usr (or /bin, a link to it) is seen by a sandboxed step; Debian's alternatives too", () => {
  assert.equal(outOfSandbox("/usr/bin/sh"), undefined);
  assert.equal(outOfSandbox("/bin/sh"), undefined);
  assert.equal(outOfSandbox("/etc/alternatives/cc"), undefined);
  // Debian's awk and cc are links through /etc/alternatives: the walk passes /etc, which a step has.
  for (const tool of ["/usr/bin/awk", "/usr/bin/cc"])
    if (lstatSync(tool, { throwIfNoEntry: false })?.isSymbolicLink())
      assert.equal(outOfSandbox(tool), undefined, tool);
});

test("a link, or any link on its way, that leads out of the host folders a step sees is named", async () => {
  work = await mkdtemp(join(tmpdir(), "rootstock-reach-"));
  const link = join(work, "tool");
  await symlink("/usr/bin/true", link);
  assert.equal(outOfSandbox(link), link);
  assert.equal(outOfSandbox("/etc/hostname"), "/etc/hostname");
  assert.equal(outOfSandbox("/opt/toolchain/bin/gcc"), "/opt/toolchain/bin/gcc");
});

test("a link whose target passes through a folder a step lacks, even to come back with '..', is named", {
  skip: process.getuid?.() === 0 ? false : "needs root to put a link in /usr/local/bin",
}, async () => {
  const link = `/usr/local/bin/rootstock-test-through-${process.pid}`;
  await symlink("/opt/anything/../../usr/bin/true", link);
  try {
    assert.equal(outOfSandbox(link), "/opt/anything/../../usr/bin/true");
    assert.equal(outOfSandbox("/usr/bin/../bin/sh"), undefined);
  } finally {
    await rm(link, { force: true });
  }
});
