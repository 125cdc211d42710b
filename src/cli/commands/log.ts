import type { Command } from "commander";
import { RootstockError } from "../../errors.ts";
import { loadPlanCached } from "../../plan/plan-cache.ts";
import { readStepHistory } from "../../store/step-history.ts";
import type { CliContext } from "../context.ts";
import { checkStepArgument } from "../options.ts";

const { createReadStream } = process.getBuiltinModule("node:fs");
const { join } = process.getBuiltinModule("node:path");

export function registerLog(program: Command, context: CliContext): void {
  program
    .command("log")
    .description("print the latest build log of a step")
    .argument("<plan>", "plan folder")
    .argument("<step>", "step name")
    .option("--path", "print the log's path instead")
    .action(async (dir: string, step: string, flags: { path?: boolean }) => {
      const plan = await loadPlanCached(dir, { cacheDir: join(context.storeDir, "cache") });
      const history = await readStepHistory(context.storeDir, plan.name, step);
      checkStepArgument(plan, step);
      if (!history?.log) {
        throw new RootstockError(
          "ERR_LOG_NONE",
          history
            ? `step "${step}" has no log recorded in this store (its record names none inside the store)`
            : `step "${step}" has no log in this store: it was never built here`,
          {
            hint: `\`rootstock run ${context.planWords(dir)} ${step}\` builds it`,
          },
        );
      }
      if (flags.path) {
        context.out(history.log);
        return;
      }
      const stream = createReadStream(history.log);
      await new Promise<void>((resolve, reject) => {
        stream.on("error", (error) =>
          reject(
            new RootstockError("ERR_LOG_NONE", `the log of step "${step}" (${history.log}) is gone`, {
              hint: "gc removes the folders of older runs; run the step again",
              cause: error,
            }),
          ),
        );
        stream.on("end", resolve);
        stream.pipe(context.stdout, { end: false });
      });
    });
}
