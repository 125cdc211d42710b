/** [images.NAME.netboot] as the loader reads it, and what a bundle is made of for such an image. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import { RootstockError } from "../src/errors.ts";
import { netbootImage, netbootInputs, netbootSteps } from "../src/netboot/plan-netboot.ts";
import { loadPlan } from "../src/plan/load.ts";

const PLAN = join(import.meta.dirname, "plans", "netboot");

function refused(code: string, message: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof RootstockError);
    assert.equal(error.code, code);
    assert.match(error.message, message);
    return true;
  };
}

describe("netboot in a plan", () => {
  test("the loader reads the table, with defaults for busybox's path and the init", async () => {
    const plan = await loadPlan(PLAN);
    assert.deepEqual(plan.images.get("system")?.netboot, {
      busybox: { step: "busybox", path: "bin/busybox" },
      init: "/sbin/init",
      cmdline: "quiet",
      embedMaxBytes: 16 * 1024 * 1024,
      memoryBytes: 512 * 1024 * 1024,
      timeoutMs: 120_000,
      prompt: "# $",
      fatal: ["Oops:"],
      tests: [],
    });
    assert.deepEqual(plan.images.get("minimal")?.netboot, {
      busybox: { step: "busybox", path: "usr/bin/busybox" },
      init: "/init",
      kernel: { step: "linux", path: "boot/vmlinuz" },
      fatal: [],
      tests: [],
    });
    assert.equal(plan.images.get("disk")?.netboot, undefined);
  });

  test("the image to boot: named, or the only one; otherwise a user error that lists them", async () => {
    const plan = await loadPlan(PLAN);
    assert.equal(netbootImage(plan, "minimal").name, "minimal");
    assert.throws(
      () => netbootImage(plan),
      refused("ERR_NETBOOT_NO_IMAGE", /has 2 netboot images: system, minimal/),
    );
    assert.throws(
      () => netbootImage(plan, "disk"),
      refused("ERR_NETBOOT_NO_IMAGE", /image "disk" .* has no \[netboot\] table/),
    );
    assert.throws(() => netbootImage(plan, "nope"), refused("ERR_NETBOOT_NO_IMAGE", /has no image "nope"/));
    plan.images.delete("minimal");
    assert.equal(netbootImage(plan).name, "system");
  });

  test("the steps a bundle needs, and its inputs from their outputs", async () => {
    const plan = await loadPlan(PLAN);
    const system = netbootImage(plan, "system");
    assert.deepEqual(netbootSteps(plan, system), ["base", "busybox", "linux"]);
    const inputs = netbootInputs(plan, system, {
      outputDir: (step) => `/store/out/${step}`,
      squashfs: { path: "/store/images/k/image.squashfs", sha256: "a".repeat(64) },
    });
    assert.deepEqual(inputs, {
      plan: "netboot-fixture",
      image: "system",
      arch: "x86_64",
      kernel: { path: "/store/out/linux/boot/bzImage" },
      busybox: { path: "/store/out/busybox/bin/busybox", label: "busybox:bin/busybox" },
      squashfs: { path: "/store/images/k/image.squashfs", sha256: "a".repeat(64) },
      init: "/sbin/init",
      cmdline: "console=ttyS0 quiet",
      embedMaxBytes: 16 * 1024 * 1024,
    });
    const minimal = netbootInputs(plan, netbootImage(plan, "minimal"), {
      outputDir: (step) => `/o/${step}`,
      squashfs: { path: "/s" },
    });
    // Its own kernel has no cmdline, and the plan's is not mixed in.
    assert.equal(minimal.cmdline, "");
    assert.equal(minimal.kernel.path, "/o/linux/boot/vmlinuz");
  });
});
