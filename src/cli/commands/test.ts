import { dirname, relative } from "node:path";
import type { Command } from "commander";
import { testPlan } from "../../check/test-plan.ts";
import { RootstockError } from "../../errors.ts";
import { parseVariableFlags } from "../../plan/open.ts";
import { globalMirrors } from "../../sources/mirror.ts";
import { buildFailure } from "../build-failure.ts";
import type { CliContext } from "../context.ts";
import { interruptible } from "../interruptible.ts";
import { parseAccel } from "../parse-accel.ts";
import { parseJobs } from "../parse-jobs.ts";
import { planReporters } from "../plan-reporters.ts";

interface TestFlags {
  jobs?: string;
  offline?: boolean;
  mirror: string[];
  set: string[];
  accel?: string;
}

const collect = (value: string, previous: string[]) => [...previous, value];

export function registerTest(program: Command, context: CliContext): void {
  program
    .command("test")
    .description("build what the tested images need, make them, boot each and run its tests")
    .argument("<plan>", "plan folder")
    .argument("[images...]", "the images to test (default: every image with tests)")
    .option("-j, --jobs <n>", "steps built at once (default: the number of cores)")
    .option("--offline", "fetch nothing: fail, listing every missing source, if one is not in the store")
    .option(
      "--mirror <mirror>",
      "a mirror (folder or URL) tried first when fetching (repeatable)",
      collect,
      [],
    )
    .option("--set <name=value>", "override a plan variable (repeatable)", collect, [])
    .option("--accel <accel>", "auto (KVM when a probe shows it works), kvm or tcg (default auto)")
    .action(async (dir: string, images: string[], flags: TestFlags) => {
      const jobs = flags.jobs === undefined ? undefined : parseJobs(flags.jobs, 1);
      const accel = parseAccel(flags.accel);
      const progress = planReporters(context, dir);
      const { result, interrupted } = await interruptible((signal) =>
        testPlan(dir, {
          storeDir: context.storeDir,
          variables: parseVariableFlags(flags.set),
          emit: progress.emit,
          signal,
          offline: flags.offline ?? false,
          mirrors: globalMirrors(flags.mirror),
          ...(images.length > 0 ? { images } : {}),
          ...(jobs === undefined ? {} : { jobs }),
          ...(accel === undefined ? {} : { accel }),
        }),
      ).finally(progress.stop);
      const shown = (path: string) => {
        const near = relative(process.cwd(), path);
        return near.startsWith("..") ? path : near;
      };
      if (result.reports) context.out(`report:  ${shown(`${result.runDir}/report.html`)}`);
      if (!result.tests) throw buildFailure(result.build, dir, interrupted);
      context.out(`junit:   ${shown(result.tests.junit)}`);
      const machines = [
        ...new Set(result.tests.cases.flatMap((test) => (test.consoleLog ? [test.consoleLog] : []))),
      ];
      for (const log of machines) context.out(`console: ${shown(log)}`);
      if (result.failures.length > 0 || !result.ok) {
        const count = result.failures.length;
        const logs = [
          ...new Set(result.failures.flatMap((test) => (test.consoleLog ? [test.consoleLog] : []))),
        ];
        throw new RootstockError(
          "ERR_TEST_FAILED",
          interrupted
            ? "the tests were interrupted"
            : `${count} test${count === 1 ? "" : "s"} failed: ${result.failures.map((test) => `${test.image} › ${test.name}`).join(", ")}`,
          {
            hint:
              logs.length > 0
                ? `read the console log${logs.length === 1 ? "" : "s"}: ${logs.map(shown).join(", ")} (QEMU's own messages are in qemu.log beside ${logs.length === 1 ? "it" : "each"}); boot the image by hand with \`rootstock boot ${dir} ${result.failures[0]?.image}\``
                : `the run's folder holds what is known: ${shown(dirname(result.tests.junit))}`,
          },
        );
      }
    });
}
