import type { Command } from "commander";
import { RootstockError } from "../../errors.ts";
import { buildPlanImages } from "../../image/build-plan-images.ts";
import { openPlan, parseVariableFlags } from "../../plan/open.ts";
import { formatBytes } from "../../units.ts";
import { buildFailure } from "../build-failure.ts";
import type { CliContext } from "../context.ts";
import { interruptible } from "../interruptible.ts";
import {
  globalMirrors,
  jobsOption,
  mirrorOption,
  offlineBuildOption,
  parseCount,
  setOption,
} from "../options.ts";
import { planReporters } from "../plan-reporters.ts";

const { join } = process.getBuiltinModule("node:path");

interface ImageFlags {
  jobs?: string;
  offline?: boolean;
  mirror: string[];
  set: string[];
}

export function registerImage(program: Command, context: CliContext): void {
  program
    .command("image")
    .description("build the steps the images hold, then the images; print where each is")
    .argument("<plan>", "plan folder")
    .argument("[images...]", "the images to make (default: all of them)")
    .addOption(jobsOption())
    .addOption(offlineBuildOption())
    .addOption(mirrorOption())
    .addOption(setOption())
    .action(async (dir: string, images: string[], flags: ImageFlags) => {
      const jobs = parseCount("--jobs", flags.jobs);
      const { graph, tools } = await openPlan(dir, {
        variables: parseVariableFlags(flags.set),
        cacheDir: join(context.storeDir, "cache"),
      });
      if (graph.plan.images.size === 0) {
        throw new RootstockError("ERR_IMAGE_NONE", `plan ${graph.plan.name} declares no images`, {
          file: join(graph.plan.displayDir, "plan.toml"),
          hint: 'declare one: [images.root] kind = "ext4" contents = ["…"] (see docs/plans.md, "Images")',
        });
      }
      const progress = planReporters(context, dir, flags.set);
      const { result: made, interrupted } = await interruptible(context, (signal) =>
        buildPlanImages(graph, {
          commandOptions: context.givenOptions,
          storeDir: context.storeDir,
          tools,
          emit: progress.emit,
          signal,
          offline: flags.offline ?? false,
          mirrors: globalMirrors(flags.mirror),
          ...(images.length > 0 ? { images } : {}),
          ...(jobs === undefined ? {} : { jobs }),
        }),
      ).finally(progress.stop);
      if (!made.build.ok) throw buildFailure(made.build, context.planWords(dir, flags.set), interrupted);
      for (const image of made.images.values()) {
        context.out(
          `${image.name.padEnd(16)} ${image.kind.padEnd(9)} ${formatBytes(image.bytes).padStart(9)}  ${image.path}`,
        );
      }
    });
}
