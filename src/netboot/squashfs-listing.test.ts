import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { listSquashfs, parseListing, resolveInImage } from "./squashfs-listing.ts";

const LISTING = `drwxr-xr-x root/root               174 1970-01-01 00:00 squashfs-root
drwxr-xr-x root/root              1242 1970-01-01 00:00 squashfs-root/bin
-rwxr-xr-x root/root           1132352 1970-01-01 00:00 squashfs-root/bin/busybox
-rw-r--r-- root/root                12 1970-01-01 00:00 squashfs-root/bin/plain
drwxr-xr-x root/root                30 1970-01-01 00:00 squashfs-root/sbin
lrwxrwxrwx root/root                14 1970-01-01 00:00 squashfs-root/sbin/init -> ../bin/busybox
drwxr-xr-x root/root                30 1970-01-01 00:00 squashfs-root/usr
lrwxrwxrwx root/root                 7 1970-01-01 00:00 squashfs-root/usr/sbin -> /sbin
lrwxrwxrwx root/root                 7 1970-01-01 00:00 squashfs-root/loop -> loop
lrwxrwxrwx root/root                 7 1970-01-01 00:00 squashfs-root/dangling -> /bin/nothing
drwxr-xr-x root/root                34 1970-01-01 00:00 squashfs-root/a b
-rw-r--r-- root/root                 2 1970-01-01 00:00 squashfs-root/a b/we ird -> x
drwxr-xr-x root/root                30 1970-01-01 00:00 squashfs-root/dev
crw------- root/root             5,  1 1970-01-01 00:00 squashfs-root/dev/console
-rwSr--r-- root/root                 2 1970-01-01 00:00 squashfs-root/setuid-not-exec
`;

describe("squashfs listing", () => {
  const listing = parseListing(LISTING);

  test("entries by absolute path, with type, execute bit and link target", () => {
    assert.deepEqual(listing.get("/bin/busybox"), { type: "file", executable: true });
    assert.deepEqual(listing.get("/bin/plain"), { type: "file", executable: false });
    assert.deepEqual(listing.get("/sbin/init"), {
      type: "symlink",
      executable: true,
      target: "../bin/busybox",
    });
    assert.deepEqual(listing.get("/a b/we ird -> x"), { type: "file", executable: false });
    assert.equal(listing.get("/dev/console")?.type, "other");
    assert.equal(listing.get("/setuid-not-exec")?.executable, false);
    assert.equal(listing.get("/")?.type, "dir");
  });

  test("a path is followed through relative and absolute links", () => {
    const init = resolveInImage(listing, "/sbin/init");
    assert.deepEqual(init, { found: true, path: "/bin/busybox", entry: { type: "file", executable: true } });
    const viaDir = resolveInImage(listing, "/usr/sbin/init");
    assert.equal(viaDir.found && viaDir.path, "/bin/busybox");
  });

  test("a missing path, a dangling link and a loop say where they stop", () => {
    assert.deepEqual(resolveInImage(listing, "/sbin/nope"), { found: false, missing: "/sbin/nope", via: [] });
    assert.deepEqual(resolveInImage(listing, "/dangling"), {
      found: false,
      missing: "/bin/nothing",
      via: ["/dangling -> /bin/nothing"],
    });
    const loop = resolveInImage(listing, "/loop");
    assert.equal(loop.found, false);
    assert.ok(!loop.found && loop.via.at(-1) === "(too many symbolic links)");
  });
});

test("a squashfs is listed with unsquashfs found where doctor finds it, whatever PATH rootstock was given", async () => {
  const work = await mkdtemp(join(tmpdir(), "rootstock-squashfs-"));
  const given = process.env.PATH;
  try {
    await mkdir(join(work, "root", "bin"), { recursive: true });
    await writeFile(join(work, "root", "bin", "hello"), "hi\n");
    const image = join(work, "image.squashfs");
    execFileSync("mksquashfs", [join(work, "root"), image, "-quiet", "-no-progress"]);
    process.env.PATH = "/nonexistent";
    const listing = await listSquashfs(image);
    assert.equal(listing.get("/bin/hello")?.type, "file");
  } finally {
    process.env.PATH = given;
    await rm(work, { recursive: true, force: true });
  }
});
