/** rootstock installed the way npm installs a package: a copy under node_modules, where Node strips no types. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cp, mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

const checkout = join(import.meta.dirname, "..");
let work: string;
let installed: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "rootstock-install-"));
  // What `npm install -g` of the packed tarball lays out: the package's files, its dependencies beside.
  installed = join(work, "lib", "node_modules", "rootstock");
  for (const part of ["bin", "src", "plans", "package.json"])
    await cp(join(checkout, part), join(installed, part), { recursive: true });
  await symlink(join(checkout, "node_modules"), join(installed, "node_modules"));
});
after(() => rm(work, { recursive: true, force: true }));

test("a copy under node_modules runs, and says nothing of how it loads its sources", () => {
  for (const args of [["-V"], ["plan", "show", join(installed, "plans", "example")]]) {
    const result = spawnSync(
      process.execPath,
      [join(installed, "bin", "rootstock.js"), "--store", join(work, "store"), ...args],
      {
        encoding: "utf8",
        cwd: work,
        env: { ...process.env, NO_COLOR: "1" },
      },
    );
    assert.equal(result.status, 0, `${args.join(" ")}: ${result.stderr}`);
    assert.equal(result.stderr, "");
  }
});
