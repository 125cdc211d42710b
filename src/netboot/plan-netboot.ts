/**
 * From a plan to what a netboot bundle is made of: which image is the netboot system, which steps it
 * needs built, and where its kernel, busybox and init are. Pure: the caller says where step outputs
 * and the built squashfs are.
 */
import { RootstockError } from "../errors.ts";
import type { Image, KernelRef, Netboot, Plan } from "../plan/types.ts";
import type { NetbootInputs } from "./build-bundle.ts";

const { join } = process.getBuiltinModule("node:path");

export type NetbootImage = Image & { netboot: Netboot };

/** The named image, or the plan's only netboot image when no name is given. */
export function netbootImage(plan: Plan, name?: string): NetbootImage {
  const candidates = [...plan.images.values()].filter(
    (image): image is NetbootImage => image.netboot !== undefined,
  );
  const where = { file: `${plan.displayDir}/plan.toml` };
  const example = `[images.system]\nkind = "squashfs"\ncontents = [...]\n[images.system.netboot]\nbusybox = { step = "busybox" }`;
  if (name !== undefined) {
    const image = plan.images.get(name);
    if (!image) {
      throw new RootstockError("ERR_NETBOOT_NO_IMAGE", `plan ${plan.name} has no image "${name}"`, {
        ...where,
        hint: `images of this plan: ${[...plan.images.keys()].join(", ") || "none"}`,
      });
    }
    if (!image.netboot) {
      throw new RootstockError(
        "ERR_NETBOOT_NO_IMAGE",
        `image "${name}" of plan ${plan.name} has no [netboot] table`,
        {
          ...where,
          field: `images.${name}`,
          hint:
            candidates.length > 0
              ? `netboot images of this plan: ${candidates.map((image) => image.name).join(", ")}`
              : `a netboot system is a squashfs image with a netboot table:\n${example}`,
        },
      );
    }
    return image as NetbootImage;
  }
  if (candidates.length === 1) return candidates[0] as NetbootImage;
  if (candidates.length === 0) {
    throw new RootstockError("ERR_NETBOOT_NO_IMAGE", `plan ${plan.name} has no image to netboot`, {
      ...where,
      hint: `declare one: a squashfs image with a netboot table:\n${example}`,
    });
  }
  throw new RootstockError(
    "ERR_NETBOOT_NO_IMAGE",
    `plan ${plan.name} has ${candidates.length} netboot images: ${candidates.map((image) => image.name).join(", ")}`,
    { ...where, hint: "name the one to boot: rootstock netboot PLAN IMAGE" },
  );
}

export function netbootKernel(plan: Plan, image: NetbootImage): KernelRef {
  // The plan loader refuses a netboot image without a kernel, so one of them is there.
  return (image.netboot.kernel ?? plan.kernel) as KernelRef;
}

/** The steps whose outputs the bundle needs: the image's contents, busybox's step and the kernel's. */
export function netbootSteps(plan: Plan, image: NetbootImage): string[] {
  return [...new Set([...image.contents, image.netboot.busybox.step, netbootKernel(plan, image).step])];
}

export interface NetbootInputsOptions {
  /** Where a step's output is. */
  outputDir: (step: string) => string;
  /** The built squashfs of the image. */
  squashfs: { path: string; sha256?: string };
}

export function netbootInputs(plan: Plan, image: NetbootImage, options: NetbootInputsOptions): NetbootInputs {
  const kernel = netbootKernel(plan, image);
  const { busybox } = image.netboot;
  return {
    plan: plan.name,
    image: image.name,
    arch: plan.arch,
    kernel: { path: join(options.outputDir(kernel.step), kernel.path) },
    busybox: {
      path: join(options.outputDir(busybox.step), busybox.path),
      label: `${busybox.step}:${busybox.path}`,
    },
    squashfs: options.squashfs,
    init: image.netboot.init,
    cmdline: [kernel.cmdline, image.netboot.cmdline]
      .filter((part) => part !== undefined && part !== "")
      .join(" "),
    ...(image.netboot.embedMaxBytes === undefined ? {} : { embedMaxBytes: image.netboot.embedMaxBytes }),
  };
}
