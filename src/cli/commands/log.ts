import type { Command } from "commander";
import { changedInputs } from "../../build/explain.ts";
import { RootstockError } from "../../errors.ts";
import { NAME_PATTERN } from "../../plan/names.ts";
import { parseVariableFlags } from "../../plan/open.ts";
import { loadPlanCached } from "../../plan/plan-cache.ts";
import type { EntryRecord } from "../../store/output-store.ts";
import { isRunFolderName, readStepHistory } from "../../store/step-history.ts";
import type { CliContext } from "../context.ts";
import { checkStepArgument, setOption } from "../options.ts";
import { stepNow } from "../step-now.ts";

const { createReadStream, existsSync } = process.getBuiltinModule("node:fs");
const { join } = process.getBuiltinModule("node:path");

export function registerLog(program: Command, context: CliContext): void {
  program
    .command("log")
    .description("print the latest build log of a step")
    .argument("<plan>", "plan folder")
    .argument("<step>", "step name")
    .option("--path", "print the log's path instead")
    .addOption(setOption())
    .action(async (dir: string, step: string, flags: { path?: boolean; set: string[] }) => {
      const plan = await loadPlanCached(dir, { cacheDir: join(context.storeDir, "cache") });
      const history = await readStepHistory(context.storeDir, plan.name, step);
      checkStepArgument(plan, step);
      // Compared with the step as the plan gives it with these variables (those of the build, if given).
      const now = await stepNow(dir, step, context, parseVariableFlags(flags.set));
      // Never built by this plan, but its entry may be another plan's (the same key): that build's log.
      const log = history ? history.log : entryLog(step, now?.entry, context);
      if (!log) {
        throw new RootstockError(
          "ERR_LOG_NONE",
          history
            ? `step "${step}" has no log recorded in this store (its record names none inside the store)`
            : `step "${step}" has no log in this store: it was never built here`,
          {
            hint: `\`rootstock run ${context.planWords(dir, flags.set)} ${step}\` builds it`,
          },
        );
      }
      // The latest build is what this prints; when the step has changed since, it says so.
      if (history && now && history.key !== now.resolved.key) {
        const changed = changedInputs(now.resolved, history);
        context.err(
          `(step "${step}" has changed since this build, in run ${history.runId}${changed.length > 0 ? `: ${changed.join(", ")}` : ""}; as the plan has it now${flags.set.length === 0 ? ", with its own variables" : ""}, ${now.entry ? `it is in the store, built in run ${now.entry.runId}` : "it has no entry in the store"}${flags.set.length === 0 && changed.some((name) => name.startsWith("env.")) ? "; a build with --set is compared with those values by log --set" : ""})`,
        );
      }
      const gone = (cause?: unknown) =>
        new RootstockError("ERR_LOG_NONE", `the log of step "${step}" (${log}) is gone`, {
          hint: now?.entry
            ? "gc removes the folders of older runs, their logs with them; the step as the plan has it now is in the store, so a run does not build it again"
            : "gc removes the folders of older runs; run the step again",
          ...(cause === undefined ? {} : { cause }),
        });
      // A path is for reading: one to a log gc removed is no answer a script can use.
      if (flags.path) {
        if (!existsSync(log)) throw gone();
        context.out(log);
        return;
      }
      const stream = createReadStream(log);
      // Output that cannot be written (a full disk) ends the copy: the command line says so, with 74.
      const outputLost = () => stream.destroy();
      context.stdout.once("error", outputLost);
      await new Promise<void>((resolve, reject) => {
        stream.on("error", (error) => reject(gone(error)));
        stream.on("end", resolve);
        stream.on("close", resolve);
        stream.pipe(context.stdout, { end: false });
      }).finally(() => context.stdout.off("error", outputLost));
    });
}

/** The log of the build that made the step's entry, when another plan (or a copy of this one) built it. */
function entryLog(step: string, record: EntryRecord | undefined, context: CliContext): string | undefined {
  // The store's own file, but held to the shapes it writes before it names a path.
  const named = (text: unknown) => NAME_PATTERN.test(String(text));
  if (!record || !isRunFolderName(record.runId) || !named(record.step) || !named(record.plan))
    return undefined;
  const log = join(context.storeDir, "runs", record.runId, "logs", `${record.step}.log`);
  if (!existsSync(log)) return undefined;
  context.err(
    `(step "${step}" has not been built by this plan; its entry was built by plan ${record.plan}, step ${record.step}, in run ${record.runId}: that build's log follows)`,
  );
  return log;
}
