import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  chmod,
  chown,
  lchown,
  link,
  mkdir,
  mkdtemp,
  readdir,
  rm,
  symlink,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { sha256Text } from "../digest.ts";
import { computeManifest, deviceMajor, deviceMinor } from "./manifest.ts";

let base: string;
before(async () => {
  base = await mkdtemp(join(tmpdir(), "rootstock-manifest-"));
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

async function sampleTree(name: string): Promise<string> {
  const dir = join(base, name);
  await mkdir(join(dir, "bin"), { recursive: true });
  await mkdir(join(dir, "tmp"));
  await chmod(join(dir, "tmp"), 0o1777);
  await writeFile(join(dir, "bin", "tool"), "#!/bin/sh\necho hi\n");
  await chmod(join(dir, "bin", "tool"), 0o755);
  await link(join(dir, "bin", "tool"), join(dir, "bin", "tool-again"));
  await symlink("tool", join(dir, "bin", "alias"));
  execFileSync("mkfifo", [join(dir, "pipe")]);
  return dir;
}

test("describes files, links, hard links, fifos and modes", async () => {
  const dir = await sampleTree("a");
  const manifest = await computeManifest(dir);
  const byPath = new Map(manifest.entries.map((entry) => [entry.path, entry]));
  assert.deepEqual(
    manifest.entries.map((entry) => entry.path),
    ["bin", "bin/alias", "bin/tool", "bin/tool-again", "pipe", "tmp"],
  );
  assert.equal(byPath.get("tmp")?.mode, 0o1777);
  assert.equal(byPath.get("bin/tool")?.mode, 0o755);
  assert.equal(byPath.get("bin/tool")?.sha256, sha256Text("#!/bin/sh\necho hi\n"));
  assert.equal(byPath.get("bin/tool-again")?.link, "bin/tool");
  assert.equal(byPath.get("bin/tool-again")?.sha256, byPath.get("bin/tool")?.sha256);
  assert.equal(byPath.get("bin/alias")?.target, "tool");
  assert.equal(byPath.get("pipe")?.kind, "fifo");
  assert.equal(manifest.files, 2);
  assert.equal(manifest.bytes, 18, "a hard-linked file counts once");
  assert.match(manifest.digest.sha256, /^[0-9a-f]{64}$/);
  assert.ok(manifest.digest.size > 0);
});

test("the tree digest depends on content and metadata, not on where the tree is", async () => {
  const one = await computeManifest(await sampleTree("b"));
  const two = await computeManifest(await sampleTree("c"));
  assert.deepEqual(one.digest, two.digest);

  const changed = await sampleTree("d");
  await writeFile(join(changed, "bin", "tool"), "#!/bin/sh\necho ho\n");
  assert.notEqual((await computeManifest(changed)).digest.sha256, one.digest.sha256);

  const moded = await sampleTree("e");
  await chmod(join(moded, "tmp"), 0o755);
  assert.notEqual((await computeManifest(moded)).digest.sha256, one.digest.sha256);
});

test("the tree digest does not depend on who built it: the builder's own files are root's", {
  skip: process.getuid?.() === 0 ? undefined : "building as another user needs root",
}, async () => {
  const asRoot = await computeManifest(await sampleTree("by-root"));
  const theirs = await sampleTree("by-nobody");
  const chownTree = async (dir: string) => {
    await lchown(dir, 65534, 65534);
    const info = await readdir(dir, { withFileTypes: true });
    for (const child of info) {
      if (child.isDirectory()) await chownTree(join(dir, child.name));
      else await lchown(join(dir, child.name), 65534, 65534);
    }
  };
  await chownTree(theirs);
  await chmod(base, 0o755);
  // Computed by nobody itself, as a rootless build's commit is.
  const byNobody = manifestAsNobody(theirs);
  assert.deepEqual(byNobody.digest, asRoot.digest);
  assert.deepEqual(byNobody.root, { mode: asRoot.root.mode, uid: 0, gid: 0 });
  assert.ok(
    byNobody.entries.every((entry: { uid: number; gid: number }) => entry.uid === 0 && entry.gid === 0),
  );

  // An owner the builder could only have given as root (a chroot step's chown) is kept, and counts.
  const chowned = await sampleTree("chowned");
  await chown(join(chowned, "tmp"), 1234, 1234);
  const manifest = await computeManifest(chowned);
  assert.deepEqual(
    manifest.entries.filter((entry) => entry.uid !== 0).map(({ path, uid, gid }) => ({ path, uid, gid })),
    [{ path: "tmp", uid: 1234, gid: 1234 }],
  );
  assert.notEqual(manifest.digest.sha256, asRoot.digest.sha256);
});

test("a hard-linked file a user cannot read has the step's mode at every path, not the read access granted", {
  skip: process.getuid?.() === 0 ? undefined : "building as another user needs root",
}, async () => {
  const tree = join(base, "linked-private");
  await mkdir(tree, { recursive: true });
  await writeFile(join(tree, "a"), "secret\n");
  await link(join(tree, "a"), join(tree, "b"));
  await chmod(join(tree, "a"), 0o000);
  await lchown(tree, 65534, 65534);
  await lchown(join(tree, "a"), 65534, 65534);
  await chmod(base, 0o755);
  const manifest = manifestAsNobody(tree, { grantOwnerAccess: true });
  assert.deepEqual(
    manifest.entries.map(({ path, mode, link }: { path: string; mode: number; link?: string }) => [
      path,
      mode,
      link,
    ]),
    [
      ["a", 0, undefined],
      ["b", 0, "a"],
    ],
  );
});

test("a file larger than one read buffer is hashed whole", async () => {
  const dir = join(base, "large");
  await mkdir(dir);
  const content = Buffer.alloc(3 * 1024 * 1024 + 17, "rootstock");
  await writeFile(join(dir, "big.bin"), content);
  const [entry] = (await computeManifest(dir)).entries;
  assert.equal(entry?.sha256, sha256Text(content));
  assert.equal(entry?.size, content.length);
});

test("device nodes keep their numbers", {
  skip: process.getuid?.() !== 0 && "needs root for mknod",
}, async () => {
  const dir = join(base, "dev");
  await mkdir(dir);
  execFileSync("mknod", ["-m", "666", join(dir, "null"), "c", "1", "3"]);
  const manifest = await computeManifest(dir);
  assert.deepEqual(manifest.entries[0]?.device, [1, 3]);
  assert.equal(manifest.entries[0]?.kind, "char");
});

test("splits device numbers as Linux encodes them", () => {
  // makedev(259, 65536): major above 255 and minor above 255 use the high bits.
  const rdev = Number((65536n & 0xffn) | ((259n & 0xfffn) << 8n) | ((65536n & ~0xffn) << 12n));
  assert.equal(deviceMajor(rdev), 259);
  assert.equal(deviceMinor(rdev), 65536);
});

/** The manifest of `dir` as nobody computes it, as a rootless build's commit does. */
function manifestAsNobody(dir: string, options: { grantOwnerAccess?: boolean } = {}) {
  const script = `
    import { computeManifest } from ${JSON.stringify(new URL("./manifest.ts", import.meta.url).href)};
    process.stdout.write(JSON.stringify(await computeManifest(${JSON.stringify(dir)}, ${JSON.stringify(options)})));
  `;
  const argv = [
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    process.execPath,
    "--input-type=module",
    "-e",
    script,
  ];
  return JSON.parse(execFileSync("setpriv", argv, { encoding: "utf8" }));
}
