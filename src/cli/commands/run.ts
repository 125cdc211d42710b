import type { Command } from "commander";
import { runPlan } from "../../build/run-plan.ts";
import { RootstockError } from "../../errors.ts";
import { EventBus } from "../../events.ts";
import { openPlan, parseVariableFlags } from "../../plan/open.ts";
import type { CliContext } from "../context.ts";
import {
  globalMirrors,
  jobsOption,
  mirrorOption,
  offlineBuildOption,
  parseCount,
  setOption,
} from "../options.ts";
import { createProgressReporter } from "../progress-reporter.ts";

const { join } = process.getBuiltinModule("node:path");

interface RunFlags {
  jobs?: string;
  keepGoing?: boolean;
  explain?: boolean;
  dryRun?: boolean;
  json?: boolean;
  offline?: boolean;
  mirror: string[];
  set: string[];
}

export function registerRun(program: Command, context: CliContext): void {
  program
    .command("run")
    .description("build a plan, or the named steps and what they need; cached steps are skipped")
    .argument("<plan>", "plan folder")
    .argument("[steps...]", "build only these steps and their dependencies")
    .addOption(jobsOption())
    .option("-k, --keep-going", "build everything that does not depend on a failed step")
    .option("--explain", "say for each step why it runs or why it is skipped")
    .option("--dry-run", "explain only; build nothing")
    .option("--json", "stream the run's events as JSON lines")
    .addOption(offlineBuildOption())
    .addOption(mirrorOption())
    .addOption(setOption())
    .action(async (dir: string, steps: string[], flags: RunFlags) => {
      const jobs = parseCount("--jobs", flags.jobs);
      const { graph, tools } = await openPlan(dir, {
        variables: parseVariableFlags(flags.set),
        targets: steps,
        cacheDir: join(context.storeDir, "cache"),
      });
      const bus = new EventBus();
      const reporter = flags.json
        ? undefined
        : createProgressReporter(context, { live: context.isTerminal, planArg: dir, set: flags.set });
      if (reporter) bus.on(reporter.listener);
      else bus.on((event) => context.out(JSON.stringify(event)));
      // Steps that failed before their sandbox existed: `rootstock shell` has nothing to enter.
      const noSandbox = new Set<string>();
      bus.on((event) => {
        if (event.type === "step:failed" && event.noSandbox) noSandbox.add(event.step);
      });
      const controller = new AbortController();
      const stopListening = context.whenInterrupted(() => controller.abort(new Error("interrupted")));
      try {
        const result = await runPlan(graph, {
          commandOptions: context.givenOptions,
          storeDir: context.storeDir,
          emit: bus.emit,
          signal: controller.signal,
          tools,
          offline: flags.offline ?? false,
          mirrors: globalMirrors(flags.mirror),
          ...(jobs === undefined ? {} : { jobs }),
          ...(flags.keepGoing ? { keepGoing: true } : {}),
          ...(flags.explain ? { explain: true } : {}),
          ...(flags.dryRun ? { dryRun: true } : {}),
          ...(steps.length > 0 ? { targets: steps } : {}),
        });
        if (!flags.dryRun && !flags.json) {
          context.out(`report: ${join(result.runDir, "report.html")}`);
          context.out(`        ${join(result.runDir, "report.md")}`);
        }
        if (!result.ok) {
          const first = result.failed[0];
          throw new RootstockError(
            controller.signal.aborted ? "ERR_INTERRUPTED" : "ERR_RUN_FAILED",
            controller.signal.aborted
              ? "the run was interrupted"
              : `${result.failed.length} step${result.failed.length === 1 ? "" : "s"} failed: ${result.failed.join(", ")}`,
            {
              hint:
                first === undefined
                  ? `run again to carry on: committed steps are not built again`
                  : noSandbox.has(first)
                    ? `read the log with \`rootstock log ${context.planWords(dir, flags.set)} ${first}\` (it failed before its sandbox existed, so there is no build to enter); committed steps are kept, so the next run carries on`
                    : `read the log with \`rootstock log ${context.planWords(dir, flags.set)} ${first}\`, enter its build folder with \`rootstock shell ${context.planWords(dir, flags.set)} ${first}\`; committed steps are kept, so the next run carries on`,
            },
          );
        }
      } finally {
        reporter?.stop();
        stopListening();
      }
    });
}
