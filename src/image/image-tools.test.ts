import assert from "node:assert/strict";
import { test } from "node:test";
import { missingImageTools } from "./build-image.ts";

test("the tools an image needs are found missing before anything is built, each with its package", () => {
  const images = [
    { name: "initrd", kind: "initramfs", compression: "xz" },
    { name: "disk", kind: "ext4", compression: "gzip" },
    { name: "system", kind: "squashfs", compression: "gzip" },
  ] as const;
  const missing = missingImageTools(images, "/nonexistent");
  assert.deepEqual(
    missing.map((error) => error.message),
    [
      "building the initramfs image initrd needs cpio (package cpio), which is not on PATH",
      "building the initramfs image initrd needs xz (package xz-utils), which is not on PATH",
      "building the ext4 image disk needs mke2fs (package e2fsprogs), which is not on PATH",
      "building the ext4 image disk needs debugfs (package e2fsprogs), which is not on PATH",
      "building the squashfs image system needs mksquashfs (package squashfs-tools), which is not on PATH",
    ],
  );
  assert.match(missing[0]?.hint ?? "", /apt-get install cpio/);
  // This host has them all (the suite's own requirements).
  assert.deepEqual(missingImageTools(images), []);
});
