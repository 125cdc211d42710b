import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { RootstockError } from "../errors.ts";
import { imageSpecFromPlan, imageSteps } from "../image/image-spec-from-plan.ts";
import type { Image, Plan, Step } from "../plan/types.ts";
import { bootFromPlan, imagesToBoot, stepsToBoot, testedImages } from "./boot-from-plan.ts";

function step(name: string): Step {
  return {
    name,
    stage: "s",
    dir: `steps/${name}`,
    deps: [],
    sandbox: "bwrap",
    root: "host",
    retries: 0,
    tools: [],
    env: {},
    sources: [],
    mounts: [],
    patches: [],
    files: [],
  };
}

function image(name: string, fields: Partial<Image>): Image {
  return {
    name,
    kind: "initramfs",
    contents: ["busybox"],
    compression: "gzip",
    owners: [],
    devices: [],
    ...fields,
  };
}

const plan: Plan = {
  name: "tiny",
  arch: "x86_64",
  dir: "/plans/tiny",
  displayDir: "plans/tiny",
  variables: {},
  hostTools: ["sh"],
  hostPackages: [],
  stages: [{ name: "s", steps: ["busybox", "linux", "extra"] }],
  steps: new Map([
    ["busybox", step("busybox")],
    ["linux", step("linux")],
    ["extra", step("extra")],
  ]),
  kernel: { step: "linux", path: "boot/bzImage", cmdline: "console=ttyS0" },
  images: new Map([
    [
      "initramfs",
      image("initramfs", {
        files: { dir: "rootfs", entries: [] },
        boot: {
          cmdline: "rdinit=/init",
          disks: ["data", "ro"],
          fatal: ["Oops"],
          tests: ["tests/boot.test.ts"],
          timeoutMs: 30_000,
          prompt: "~ # $",
        },
      }),
    ],
    ["data", image("data", { kind: "ext4", compression: "none", sizeBytes: 64 << 20, label: "data" })],
    ["ro", image("ro", { kind: "squashfs", compression: "xz", contents: ["extra"] })],
    [
      "disk",
      image("disk", {
        kind: "ext4",
        compression: "none",
        boot: { initrd: "initramfs", disks: [], fatal: [], tests: [], cmdline: "root=/dev/vda" },
      }),
    ],
  ]),
};

// The kernel step's output is real: a boot checks that its kernel file is there.
const linuxOutput = mkdtempSync(join(tmpdir(), "rootstock-boot-plan-"));
mkdirSync(join(linuxOutput, "boot"));
// Enough of a bzImage for the check: its "HdrS" header at 0x202.
const bzImage = Buffer.alloc(0x400);
bzImage.write("HdrS", 0x202, "latin1");
writeFileSync(join(linuxOutput, "boot", "bzImage"), bzImage);
writeFileSync(join(linuxOutput, "boot", "notakernel"), "notakernel\n");
// An ELF program, which QEMU's x86 -kernel refuses, and a bare ELF with the PVH entry note it takes.
copyFileSync("/bin/true", join(linuxOutput, "boot", "program"));
const pvh = Buffer.alloc(144);
pvh.write("\x7fELF", 0, "latin1");
pvh[4] = 2; // 64-bit
pvh[5] = 1; // little-endian
pvh.writeBigUInt64LE(64n, 0x20); // program headers at 64
pvh.writeUInt16LE(56, 0x36);
pvh.writeUInt16LE(1, 0x38);
pvh.writeUInt32LE(4, 64); // PT_NOTE
pvh.writeBigUInt64LE(120n, 64 + 8);
pvh.writeBigUInt64LE(24n, 64 + 32);
pvh.writeUInt32LE(4, 120); // "Xen\0"
pvh.writeUInt32LE(4, 124);
pvh.writeUInt32LE(18, 128); // XEN_ELFNOTE_PHYS32_ENTRY
pvh.write("Xen\0", 132, "latin1");
writeFileSync(join(linuxOutput, "boot", "vmlinux"), pvh);
// A multiboot kernel (a flat binary, its header past a few bytes of code), and one as a 64-bit ELF
// file without the header's load addresses, which QEMU refuses.
const multiboot = (flags: number, before: Buffer) => {
  const header = Buffer.alloc(12);
  header.writeUInt32LE(0x1badb002, 0);
  header.writeUInt32LE(flags, 4);
  header.writeUInt32LE((0x100000000 - ((0x1badb002 + flags) % 0x100000000)) % 0x100000000, 8);
  return Buffer.concat([before, header, Buffer.alloc(64)]);
};
writeFileSync(join(linuxOutput, "boot", "mbkernel"), multiboot(0x10003, Buffer.alloc(64)));
// Without its load addresses a flat file is no kernel QEMU loads, nor is a header past where it looks.
writeFileSync(join(linuxOutput, "boot", "mbflat"), multiboot(0x3, Buffer.alloc(64)));
writeFileSync(join(linuxOutput, "boot", "mbfar"), multiboot(0x10003, Buffer.alloc(8160)));
// An ELF file whose program header entries are too small to hold one.
const tiny = Buffer.from(pvh);
tiny.writeUInt16LE(4, 0x36);
writeFileSync(join(linuxOutput, "boot", "tinyentries"), tiny);
const elf64 = Buffer.alloc(64);
elf64.write("\x7fELF", 0, "latin1");
elf64[4] = 2;
elf64[5] = 1;
writeFileSync(join(linuxOutput, "boot", "mb64"), multiboot(0x3, elf64));
// A damaged ELF file: its program headers past any file's end.
const damaged = Buffer.from(pvh);
damaged.writeBigUInt64LE(2n ** 64n - 16n, 0x20);
writeFileSync(join(linuxOutput, "boot", "damaged"), damaged);
const farNote = Buffer.from(pvh);
farNote.writeBigUInt64LE(2n ** 63n, 64 + 8);
writeFileSync(join(linuxOutput, "boot", "farnote"), farNote);
// A link out of the output: QEMU would boot a host file that no key covers.
symlinkSync(join(linuxOutput, "boot", "vmlinux"), join(linuxOutput, "inside"));
const hostKernel = mkdtempSync(join(tmpdir(), "rootstock-host-kernel-"));
writeFileSync(join(hostKernel, "vmlinux"), pvh);
symlinkSync(join(hostKernel, "vmlinux"), join(linuxOutput, "boot", "hostlink"));
after(() => rmSync(hostKernel, { recursive: true, force: true }));
after(() => rmSync(linuxOutput, { recursive: true, force: true }));

const outputs = new Map([
  ["busybox", { path: "/store/out/aaa", key: "a".repeat(64) }],
  ["linux", { path: linuxOutput, key: "b".repeat(64) }],
]);
const images = new Map(
  ["initramfs", "data", "ro", "disk"].map((name) => [name, { path: `/store/images/${name}.img` }]),
);

test("an initramfs boots as the initrd, with its disks, command line, limits and tests", () => {
  assert.deepEqual(imagesToBoot(plan, "initramfs"), ["initramfs", "data", "ro"]);
  assert.deepEqual(testedImages(plan), ["initramfs"]);
  const boot = bootFromPlan(plan, "initramfs", { outputs, images });
  assert.deepEqual(boot.machine, {
    kernel: join(linuxOutput, "boot", "bzImage"),
    initrd: "/store/images/initramfs.img",
    cmdline: "console=ttyS0 rdinit=/init",
    disks: [
      { path: "/store/images/data.img", persist: false },
      { path: "/store/images/ro.img", readOnly: true },
    ],
    fatal: ["Oops"],
    bootTimeoutMs: 30_000,
    prompt: "~ # $",
  });
  assert.deepEqual(boot.tests, [{ path: "/plans/tiny/tests/boot.test.ts", display: "tests/boot.test.ts" }]);
});

test("a disk image boots as the first disk, with another image as its initramfs", () => {
  assert.deepEqual(imagesToBoot(plan, "disk"), ["disk", "initramfs"]);
  const boot = bootFromPlan(plan, "disk", { outputs, images, persist: true });
  assert.equal(boot.machine.initrd, "/store/images/initramfs.img");
  assert.deepEqual(boot.machine.disks, [{ path: "/store/images/disk.img", persist: true }]);
  assert.equal(boot.machine.cmdline, "console=ttyS0 root=/dev/vda");
});

test("the steps an image holds, and the steps a boot needs: its images' and the kernel's", () => {
  assert.deepEqual(imageSteps(plan, ["ro"]), ["extra"]);
  assert.deepEqual(imageSteps(plan, ["ro", "data"]), ["busybox", "extra"]);
  assert.deepEqual(stepsToBoot(plan, "initramfs"), ["busybox", "linux", "extra"]);
  assert.deepEqual(stepsToBoot(plan, "disk"), ["busybox", "linux"]);
  assert.throws(() => imageSteps(plan, ["nope"]), /no image "nope"/);
});

test("unknown, unbootable, and unbuilt are user errors with hints", () => {
  const code = (fn: () => unknown, expected: string, hint?: RegExp) =>
    assert.throws(fn, (error: unknown) => {
      assert.ok(error instanceof RootstockError);
      assert.equal(error.code, expected);
      if (hint) assert.match(error.hint ?? "", hint);
      return true;
    });
  code(() => bootFromPlan(plan, "initramf", { outputs, images }), "ERR_IMAGE_UNKNOWN", /initramfs/);
  code(() => imagesToBoot(plan, "data"), "ERR_IMAGE_NOT_BOOTABLE", /bootable images: initramfs, disk/);
  // An image that boots over the network is named as such: `rootstock test` tests it too.
  const netbooted = image("system", {
    kind: "squashfs",
    netboot: { busybox: { step: "busybox", path: "bin/busybox" }, init: "/sbin/init", fatal: [], tests: [] },
  });
  const withNetboot = { ...plan, images: new Map([...plan.images, ["system", netbooted]]) };
  code(
    () => imagesToBoot(withNetboot, "data"),
    "ERR_IMAGE_NOT_BOOTABLE",
    /bootable images: initramfs, disk; booted over the network: system/,
  );
  code(() => bootFromPlan(plan, "initramfs", { outputs: new Map(), images }), "ERR_IMAGE_STEP_NOT_BUILT");
  const wrongKernel = { ...plan, kernel: { step: "linux", path: "boot/vmlinuz-nope" } };
  code(
    () => bootFromPlan(wrongKernel, "initramfs", { outputs, images }),
    "ERR_IMAGE_NO_KERNEL_FILE",
    /boot\/ holds: bzImage/,
  );
  code(
    () =>
      bootFromPlan({ ...plan, kernel: { step: "linux", path: "boot/notakernel" } }, "initramfs", {
        outputs,
        images,
      }),
    "ERR_IMAGE_NOT_A_KERNEL",
    /boot\/bzImage/,
  );
  code(
    () =>
      bootFromPlan({ ...plan, kernel: { step: "linux", path: "boot/program" } }, "initramfs", {
        outputs,
        images,
      }),
    "ERR_IMAGE_NOT_A_KERNEL",
    /point kernel\.path at the kernel the step builds/,
  );
  const withKernel = (path: string) => () =>
    bootFromPlan({ ...plan, kernel: { step: "linux", path } }, "initramfs", { outputs, images });
  for (const path of ["boot/vmlinux", "boot/mbkernel", "inside"]) assert.ok(withKernel(path)(), path);
  for (const path of [
    "boot/mb64",
    "boot/damaged",
    "boot/farnote",
    "boot/mbflat",
    "boot/mbfar",
    "boot/tinyentries",
  ])
    code(withKernel(path), "ERR_IMAGE_NOT_A_KERNEL", /point kernel\.path at the kernel/);
  code(withKernel("boot/hostlink"), "ERR_IMAGE_NO_KERNEL_FILE", /copy it into \$OUT rather than link to it/);
  code(() => imageSpecFromPlan(plan, "initramfs", new Map()), "ERR_IMAGE_STEP_NOT_BUILT", /rootstock run/);
});

test("an image spec takes the steps' outputs and keys in order, and the plan's files", () => {
  const spec = imageSpecFromPlan(plan, "initramfs", outputs);
  assert.deepEqual(spec.layers, [
    // The entry's manifest beside its out/ folder gives the modes the step left.
    { dir: "/store/out/aaa", key: "a".repeat(64), label: "busybox", manifest: "/store/out/manifest.json" },
  ]);
  assert.deepEqual(spec.files, { dir: "/plans/tiny/rootfs", entries: [] });
  const data = imageSpecFromPlan(plan, "data", outputs);
  assert.deepEqual(
    [data.kind, data.sizeBytes, data.label, data.files],
    ["ext4", 64 << 20, "data", undefined],
  );
});
