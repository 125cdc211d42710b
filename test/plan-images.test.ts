/** The image tables of plan.toml as loadPlan reads them, owners and device nodes included. */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { RootstockErrors } from "../src/errors.ts";
import { loadPlan } from "../src/plan/load.ts";

let work: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "rootstock-plan-images-"));
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

async function planWith(images: string): Promise<string> {
  const dir = await mkdtemp(join(work, "plan-"));
  await mkdir(join(dir, "steps", "base"), { recursive: true });
  await mkdir(join(dir, "rootfs"));
  await mkdir(join(dir, "tests"));
  await writeFile(join(dir, "rootfs", "init"), "#!/bin/sh\n", { mode: 0o755 });
  await writeFile(join(dir, "tests", "boot.test.ts"), "export default {};\n");
  await writeFile(join(dir, "steps", "base", "step.toml"), 'version = "1"\n');
  await writeFile(
    join(dir, "plan.toml"),
    `name = "p"\narch = "x86_64"\nkernel = { step = "base", path = "boot/bzImage" }\n\n[[stages]]\nname = "s"\nsteps = ["base"]\n\n${images}`,
  );
  return dir;
}

test("owners and device nodes are read into the image", async () => {
  const dir = await planWith(`[images.root]
kind = "ext4"
contents = ["base"]
files = "rootfs"
owners = { "/home/alice" = "1000:100" }
devices = [
  { path = "/dev/ttyS0", type = "char", major = 4, minor = 64, mode = 0o620, owner = "0:5" },
  { path = "/dev/vda", type = "block", major = 254, minor = 0 },
]
[images.root.boot]
cmdline = "root=/dev/vda"
tests = ["tests/boot.test.ts"]
timeout = "90s"
`);
  const plan = await loadPlan(dir);
  const image = plan.images.get("root");
  assert.ok(image);
  assert.deepEqual(image.owners, [{ path: "home/alice", uid: 1000, gid: 100 }]);
  assert.deepEqual(image.devices, [
    { path: "dev/ttyS0", type: "char", major: 4, minor: 64, mode: 0o620, uid: 0, gid: 5 },
    { path: "dev/vda", type: "block", major: 254, minor: 0, mode: 0o600, uid: 0, gid: 0 },
  ]);
  assert.equal(image.boot?.timeoutMs, 90_000);
  assert.deepEqual(
    image.files?.entries.map((entry) => [entry.path, entry.executable]),
    [["init", true]],
  );
});

test("a malformed owner or device is reported with its place", async () => {
  const dir = await planWith(`[images.root]
kind = "ext4"
contents = ["base"]
owners = { "/home/alice" = "alice" }
devices = [{ path = "/dev/x", type = "pipe", major = 1, minor = 1 }]
`);
  await assert.rejects(loadPlan(dir), (error: unknown) => {
    assert.ok(error instanceof RootstockErrors);
    const text = error.errors.map((inner) => inner.headline).join("\n");
    assert.match(text, /plan\.toml:\d+: images\.root\.owners.*uid:gid/);
    assert.match(text, /images\.root\.devices\[0\]\.type/);
    return true;
  });
});

test("links in an image's files are the image's own: kept as links, not followed or refused", async () => {
  const dir = await planWith(`[images.root]
kind = "initramfs"
contents = ["base"]
files = "rootfs"
`);
  await mkdir(join(dir, "rootfs", "bin"));
  await mkdir(join(dir, "rootfs", "etc"));
  // Targets that exist only in the guest: a busybox applet, the kernel's mount table.
  await symlink("busybox", join(dir, "rootfs", "bin", "sh"));
  await symlink("/proc/mounts", join(dir, "rootfs", "etc", "mtab"));
  const image = (await loadPlan(dir)).images.get("root");
  assert.deepEqual(
    image?.files?.entries.map((entry) => [entry.path, entry.symlink]),
    [
      ["bin/sh", "busybox"],
      ["etc/mtab", "/proc/mounts"],
      ["init", undefined],
    ],
  );
});
