import type { Command } from "commander";
import { testPlan } from "../../check/test-plan.ts";
import { RootstockError } from "../../errors.ts";
import { parseVariableFlags } from "../../plan/open.ts";
import { parseDuration } from "../../units.ts";
import type { CliContext } from "../context.ts";
import { interruptible } from "../interruptible.ts";
import {
  globalMirrors,
  jobsOption,
  machinesOption,
  mirrorOption,
  offlineBuildOption,
  parseCount,
  setOption,
} from "../options.ts";
import { parseAccel } from "../parse-accel.ts";
import { planReporters } from "../plan-reporters.ts";
import { reportTestOutcome } from "../test-outcome.ts";

interface TestFlags {
  jobs?: string;
  offline?: boolean;
  mirror: string[];
  set: string[];
  accel?: string;
  machines?: string;
  testTimeout?: string;
}

export function registerTest(program: Command, context: CliContext): void {
  program
    .command("test")
    .description("build what the tested images need, make them, boot each and run its tests")
    .argument("<plan>", "plan folder")
    .argument("[images...]", "the images to test (default: every image with tests)")
    .addOption(jobsOption())
    .addOption(offlineBuildOption())
    .addOption(mirrorOption())
    .addOption(setOption())
    .option("--accel <accel>", "auto (KVM when a probe shows it works), kvm or tcg (default auto)")
    .addOption(machinesOption())
    .option("--test-timeout <duration>", "how long one test case may take before it fails (default 30m)")
    .action(async (dir: string, images: string[], flags: TestFlags) => {
      const jobs = parseCount("--jobs", flags.jobs);
      const testTimeoutMs = flags.testTimeout === undefined ? undefined : parseDuration(flags.testTimeout);
      // Node's timers hold at most 2^31 - 1 ms (24.8 days): a longer one would fire at once.
      if (flags.testTimeout !== undefined && (testTimeoutMs === undefined || testTimeoutMs > 2 ** 31 - 1))
        throw new RootstockError(
          "ERR_CLI_BAD_DURATION",
          `--test-timeout ${flags.testTimeout} is ${testTimeoutMs === undefined ? "no duration" : "longer than the 596h a timer can wait"}`,
          { hint: "give one such as 90s, 10m or 1h30m, at most 596h" },
        );
      const accel = parseAccel(flags.accel);
      const machines = parseCount("--machines", flags.machines);
      const progress = planReporters(context, dir, flags.set);
      const { result, interrupted } = await interruptible(context, (signal) =>
        testPlan(dir, {
          commandOptions: context.givenOptions,
          storeDir: context.storeDir,
          variables: parseVariableFlags(flags.set),
          emit: progress.emit,
          signal,
          offline: flags.offline ?? false,
          mirrors: globalMirrors(flags.mirror),
          ...(images.length > 0 ? { images } : {}),
          ...(jobs === undefined ? {} : { jobs }),
          ...(accel === undefined ? {} : { accel }),
          ...(machines === undefined ? {} : { machines }),
          ...(testTimeoutMs === undefined ? {} : { testTimeoutMs }),
        }),
      ).finally(progress.stop);
      reportTestOutcome(result, dir, context, interrupted, flags.set);
    });
}
