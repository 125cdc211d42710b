/** Persistent disks: copied once out of the store, reused, and known to be older than a changed image. */
import assert from "node:assert/strict";
import { chown, lstat, mkdir, readFile, rm, stat, symlink, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { BuiltImage } from "../src/image/build-image.ts";
import { persistentCopy, persistentDiskDir } from "../src/image/persistent-copy.ts";
import { type Workbench, workbench } from "./helpers/fixture-plan.ts";

let bench: Workbench;
before(async () => {
  bench = await workbench("rootstock-persist-");
});
after(() => bench.remove());

async function image(key: string, text: string): Promise<BuiltImage> {
  const path = join(bench.dir, `image-${key}.ext4`);
  await writeFile(path, text, { mode: 0o444 });
  // Mostly free space, as a disk image is.
  await truncate(path, 64 << 20);
  return {
    name: "rootfs",
    kind: "ext4",
    key: key.repeat(64),
    path,
    sha256: "0".repeat(64),
    bytes: 64 << 20,
    cached: true,
  };
}

test("a copy is made once, sparse and writable, then reused; a changed image makes it stale", async () => {
  const dir = join(bench.dir, "disks");
  const first = await persistentCopy(await image("a", "first"), { plan: "tiny", dir });
  assert.deepEqual(first, {
    image: "rootfs",
    path: join(dir, "tiny", "rootfs.ext4"),
    created: true,
    stale: false,
  });
  const info = await stat(first.path);
  assert.equal(info.mode & 0o777, 0o600);
  assert.equal(info.size, 64 << 20);
  assert.ok(info.blocks * 512 < 1 << 20, `the copy is sparse (${info.blocks} blocks)`);
  const note = JSON.parse(await readFile(`${first.path}.json`, "utf8")) as { key: string };
  assert.equal(note.key, "a".repeat(64));

  await writeFile(first.path, "written by the guest");
  const again = await persistentCopy(await image("a", "first"), { plan: "tiny", dir });
  assert.deepEqual([again.created, again.stale], [false, false]);
  assert.equal(await readFile(again.path, "utf8"), "written by the guest", "the guest's writes are kept");
  const changed = await persistentCopy(await image("b", "second"), { plan: "tiny", dir });
  assert.deepEqual([changed.created, changed.stale], [false, true]);
});

test("a disk folder another user owns, or a link planted at the disk's or the note's name, is refused or replaced", {
  skip: process.getuid?.() === 0 ? false : "needs root to make a folder of another user",
}, async () => {
  const theirs = join(bench.dir, "their-disks");
  await mkdir(join(theirs, "tiny"), { recursive: true });
  await chown(theirs, 65534, 65534);
  await assert.rejects(persistentCopy(await image("a", "first"), { plan: "tiny", dir: theirs }), {
    code: "ERR_IMAGE_DISK_DIR_NOT_OWN",
  });
  // Refused before anything is made in it.
  await rm(join(theirs, "tiny"), { recursive: true });
  await assert.rejects(persistentCopy(await image("a", "first"), { plan: "tiny", dir: theirs }), {
    code: "ERR_IMAGE_DISK_DIR_NOT_OWN",
  });
  assert.equal(await lstat(join(theirs, "tiny")).catch(() => undefined), undefined);
  // In a folder of one's own: a link at the disk's name is refused, one at the note's is replaced.
  const own = join(bench.dir, "own-disks");
  await mkdir(join(own, "tiny"), { recursive: true });
  const target = join(bench.dir, "precious");
  await writeFile(target, "keep me");
  await symlink(target, join(own, "tiny", "rootfs.ext4.json"));
  const made = await persistentCopy(await image("a", "first"), { plan: "tiny", dir: own });
  assert.equal(await readFile(target, "utf8"), "keep me");
  assert.equal((await lstat(`${made.path}.json`)).isSymbolicLink(), false);
  await rm(made.path);
  await symlink(target, made.path);
  await assert.rejects(persistentCopy(await image("a", "first"), { plan: "tiny", dir: own }), {
    code: "ERR_IMAGE_DISK_DIR_NOT_OWN",
  });
});

test("the default place is the user's data, not the cache", () => {
  assert.equal(persistentDiskDir({ ROOTSTOCK_DISKS: "/d" }), "/d");
  assert.equal(persistentDiskDir({ XDG_DATA_HOME: "/x" }), "/x/rootstock/disks");
  assert.match(persistentDiskDir({}), /\/\.local\/share\/rootstock\/disks$/);
});
