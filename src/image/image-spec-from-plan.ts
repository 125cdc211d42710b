/** An image of a plan as the image builder sees it: its steps' output folders (with their keys) and files. */
import type { StepOutput } from "../build/run-plan.ts";
import { RootstockError } from "../errors.ts";
import { didYouMean } from "../plan/suggest.ts";
import type { Plan } from "../plan/types.ts";
import type { ImageSpec } from "./image-spec.ts";

const { dirname, join } = process.getBuiltinModule("node:path");

/** The steps whose outputs the named images hold, in plan order; an unknown image is an error. */
export function imageSteps(plan: Plan, names: readonly string[]): string[] {
  const wanted = new Set(names.flatMap((name) => planImage(plan, name).contents));
  return [...plan.steps.keys()].filter((step) => wanted.has(step));
}

export function imageSpecFromPlan(
  plan: Plan,
  name: string,
  outputs: ReadonlyMap<string, StepOutput>,
): ImageSpec {
  const image = planImage(plan, name);
  const layers = image.contents.map((step) => {
    const output = outputs.get(step);
    if (!output) {
      const when = plan.steps.get(step)?.when?.source;
      throw new RootstockError(
        "ERR_IMAGE_STEP_NOT_BUILT",
        `image "${name}" needs the output of step "${step}", which was not built`,
        {
          file: join(plan.displayDir, "plan.toml"),
          field: `images.${name}.contents`,
          hint: when
            ? `the step is disabled by when = ${JSON.stringify(when)}; set the plan's variables to enable it, or remove it from contents`
            : "build the plan first (rootstock run), or check the step's name",
        },
      );
    }
    // The entry's manifest.json lies beside its out/ folder.
    return {
      dir: output.path,
      key: output.key,
      label: step,
      manifest: join(dirname(output.path), "manifest.json"),
      ...(plan.steps.get(step)?.sandbox === "chroot" ? { ownersChosen: true } : {}),
    };
  });
  return {
    name,
    declaredIn: join(plan.displayDir, "plan.toml"),
    kind: image.kind,
    compression: image.compression,
    layers,
    owners: image.owners,
    devices: image.devices,
    ...(image.files === undefined
      ? {}
      : { files: { dir: join(plan.dir, image.files.dir), entries: image.files.entries } }),
    ...(image.sizeBytes === undefined ? {} : { sizeBytes: image.sizeBytes }),
    ...(image.label === undefined ? {} : { label: image.label }),
  };
}

function planImage(plan: Plan, name: string) {
  const image = plan.images.get(name);
  if (!image) {
    const known = [...plan.images.keys()];
    throw new RootstockError("ERR_IMAGE_UNKNOWN", `plan ${plan.name} has no image "${name}"`, {
      file: join(plan.displayDir, "plan.toml"),
      hint:
        didYouMean(name, known) ||
        `images of this plan: ${known.join(", ") || "none (declare [images.NAME])"}`,
    });
  }
  return image;
}
