import type { Command } from "commander";
import { findFailedBuild, openShell } from "../../build/open-shell.ts";
import { parseVariableFlags } from "../../plan/open.ts";
import { loadPlanCached } from "../../plan/plan-cache.ts";
import { StoreLocks, shellLockName } from "../../store/store-locks.ts";
import type { CliContext } from "../context.ts";
import { checkStepArgument, setOption } from "../options.ts";
import { stepNow } from "../step-now.ts";

const { join } = process.getBuiltinModule("node:path");

export function registerShell(program: Command, context: CliContext): void {
  program
    .command("shell")
    .description("open a shell in the sandbox, environment and folder where a step failed")
    .argument("<plan>", "plan folder")
    .argument("<step>", "step name")
    .option("-c, --command <command>", "run this command there instead of an interactive shell")
    .addOption(setOption())
    .action(async (dir: string, step: string, flags: { command?: string; set: string[] }) => {
      const plan = await loadPlanCached(dir, { cacheDir: join(context.storeDir, "cache") });
      checkStepArgument(plan, step);
      // Compared with the step as the plan gives it with these variables (those of the build, if given).
      const now = await stepNow(dir, step, context, parseVariableFlags(flags.set));
      const target = await findFailedBuild(
        context.storeDir,
        plan.name,
        step,
        context.planWords(dir, flags.set),
        {
          ...(now ? { now: now.resolved } : {}),
        },
      );
      if (flags.command === undefined) {
        context.err(`rootstock: entering ${step}'s failed build (run ${target.saved.runId}); the phases are`);
        context.err("           defined: do_prepare, do_configure, do_compile, do_install. Leave with exit.");
      }
      if (target.changed.length > 0) {
        context.err(
          `rootstock: the step has changed since this build failed (${target.changed.join(", ")}${flags.set.length === 0 && target.changed.some((name) => name.startsWith("env.")) ? "; a build with --set is compared with those values by shell --set" : ""}); the folder, phases and sandbox are the failed build's${now?.entry ? `, and the step as it is now is in the store (built in run ${now.entry.runId})` : ""}`,
        );
      }
      // Held while the shell runs: a later run then leaves this build folder alone. Another shell in it
      // may hold it already, which does as well.
      const lock = await new StoreLocks(context.storeDir).tryAcquire(shellLockName(target.workDir), {
        runId: target.saved.runId,
        pid: process.pid,
        what: `rootstock shell in ${step}'s failed build`,
      });
      // The shell owns the terminal: Ctrl-C is for it.
      const ignore = () => {};
      process.on("SIGINT", ignore);
      try {
        process.exitCode = await openShell(
          target,
          flags.command === undefined ? {} : { command: flags.command },
        );
      } finally {
        process.off("SIGINT", ignore);
        await lock?.release();
      }
    });
}
