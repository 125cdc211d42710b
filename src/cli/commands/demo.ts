import type { Command } from "commander";
import { checkBootableArch } from "../../check/boot-from-plan.ts";
import { imagesToTest, testPlan } from "../../check/test-plan.ts";
import { RootstockError } from "../../errors.ts";
import { openPlan } from "../../plan/open.ts";
import { fetchSources } from "../../sources/fetch-sources.ts";
import { planSources } from "../../sources/plan-sources.ts";
import { formatDuration, monotonicMs } from "../../units.ts";
import type { CliContext } from "../context.ts";
import { createFetchReporter } from "../fetch-reporter.ts";
import { interruptible } from "../interruptible.ts";
import { globalMirrors, mirrorOption } from "../options.ts";
import { planReporters } from "../plan-reporters.ts";
import { reportTestOutcome, shownPath } from "../test-outcome.ts";
import { runDoctor } from "./doctor.ts";

const { join } = process.getBuiltinModule("node:path");

/** The flagship plan, beside rootstock's own code, whatever the current folder. */
export const FLAGSHIP_PLAN = join(import.meta.dirname, "..", "..", "..", "plans", "tiny-linux");

interface DemoFlags {
  offline?: boolean;
  mirror: string[];
}

/** The main job: host check (and install, as root), fetch, build, images, boot tests, report. */
export function registerDemo(program: Command, context: CliContext): void {
  program
    .command("demo")
    .description(
      "check the host, fetch, build, make images, boot and test them, and report (the flagship plan)",
    )
    .argument("[plan]", "plan folder (default: plans/tiny-linux)")
    .option("--offline", "fetch nothing: use the store and mirrors only")
    .addOption(mirrorOption())
    .action(async (planArg: string | undefined, flags: DemoFlags) => {
      const started = monotonicMs();
      const dir = planArg ?? shownPath(FLAGSHIP_PLAN);
      const heading = (step: string, what: string) =>
        context.out(context.style("bold", `\n== ${step} ${what}`));

      // A plan the demo cannot test is said so before the host check and the fetch, not after.
      const { graph } = await openPlan(dir, { identifyTools: false });
      checkBootableArch(graph.plan);
      imagesToTest(graph, undefined);

      heading("1/4", "host: the tools rootstock and this plan use");
      // Offline, it touches no network: it says what is missing (deb-src too) and installs nothing.
      if (!(await runDoctor({ plan: dir, install: !flags.offline, quiet: true }, context))) {
        throw new RootstockError("ERR_DEMO_HOST", "the host lacks tools the demo needs (listed above)", {
          hint: flags.offline
            ? "install what is missing (offline, the demo installs nothing: on an air-gapped machine, bring the packages' .deb files, as docs/plans.md says), then run the demo again"
            : "install what is missing as the lines above say (as root the demo installs Debian's packages itself), then run the demo again",
        });
      }

      heading("2/4", "sources: every pinned source, verified by sha256");
      const mirrors = globalMirrors(flags.mirror);
      const fetchReporter = createFetchReporter(context);
      await interruptible(context, (signal) =>
        fetchSources(planSources(graph), {
          storeDir: context.storeDir,
          offline: flags.offline ?? false,
          mirrors,
          emit: fetchReporter.emit,
          signal,
        }),
      ).finally(fetchReporter.finish);

      heading("3/4", "build, images and boot tests, in one run");
      const progress = planReporters(context, dir);
      const { result, interrupted } = await interruptible(context, (signal) =>
        testPlan(dir, {
          commandOptions: context.givenOptions,
          storeDir: context.storeDir,
          command: "demo",
          emit: progress.emit,
          signal,
          offline: flags.offline ?? false,
          mirrors,
        }),
      ).finally(progress.stop);

      heading("4/4", "results");
      const built = result.build.built.length;
      const passed = result.tests?.cases.filter((test) => test.status === "passed").length ?? 0;
      context.out(
        `demo:    ${result.ok ? "passed" : interrupted ? "interrupted" : "FAILED"} in ${formatDuration(monotonicMs() - started)}: ${built} step${built === 1 ? "" : "s"} built, ${result.build.cached.length} from the cache, ${result.tests && result.tests.cases.length > 0 ? `${passed}/${result.tests.cases.length} boot tests passed` : "no boot tests run"}`,
      );
      reportTestOutcome(result, dir, context, interrupted);
    });
}
