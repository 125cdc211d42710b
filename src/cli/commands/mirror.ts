import type { Command } from "commander";
import { openPlan, parseVariableFlags } from "../../plan/open.ts";
import { exportMirror } from "../../sources/export-mirror.ts";
import { planSources, turnedOffSources } from "../../sources/plan-sources.ts";
import { formatBytes, typedWord } from "../../units.ts";
import type { CliContext } from "../context.ts";
import { createFetchReporter } from "../fetch-reporter.ts";
import { interruptible } from "../interruptible.ts";
import { checkFolderArgument, globalMirrors, mirrorOption, parseJobs, setOption } from "../options.ts";

const { resolve } = process.getBuiltinModule("node:path");

interface MirrorFlags {
  offline?: boolean;
  mirror: string[];
  set: string[];
  jobs?: string;
}

export function registerMirror(program: Command, context: CliContext): void {
  program
    .command("mirror")
    .description(
      "export every source of a plan into a folder that serves as a mirror (for an air-gapped machine)",
    )
    .argument("<plan>", "plan folder")
    .argument("<dir>", "mirror folder (created; may already hold other plans' sources)")
    .option("--offline", "do not fetch what the store lacks; fail instead")
    .addOption(mirrorOption())
    .addOption(setOption())
    .option("--jobs <n>", "downloads at once (default 4)")
    .action(async (plan: string, dir: string, flags: MirrorFlags) => {
      // Checked first: under /proc, Node's recursive mkdir spins for good, deaf to Ctrl-C.
      checkFolderArgument("mirror folder", dir);
      const { graph } = await openPlan(plan, {
        variables: parseVariableFlags(flags.set),
        identifyTools: false,
      });
      // Wanted too where the mirror is carried (another --set), but not needed here: left out if missing.
      const turnedOff = turnedOffSources(graph);
      const reporter = createFetchReporter(context);
      const target = resolve(dir);
      const { result } = await interruptible(
        context,
        (signal) =>
          exportMirror([...planSources(graph), ...turnedOff], target, {
            storeDir: context.storeDir,
            optional: new Set(turnedOff),
            offline: flags.offline ?? false,
            mirrors: globalMirrors(flags.mirror),
            concurrency: parseJobs(flags.jobs, 4),
            emit: reporter.emit,
            signal,
          }),
        "run again to carry on: the files copied so far are kept",
      ).finally(reporter.finish);
      for (const conflict of result.nameConflicts) {
        context.out(
          `  ${context.style("yellow", "note")} ${conflict.file} names ${conflict.sha256.length} different files; by name the mirror holds the first, by hash all`,
        );
      }
      context.out(
        `mirror: ${result.written} written, ${result.kept} already there (${formatBytes(result.bytes)}) in ${target}${result.repaired > 0 ? `; ${result.repaired} damaged ${result.repaired === 1 ? "copy" : "copies"} replaced` : ""}`,
      );
      for (const taken of result.nameTaken) {
        context.out(
          `  ${context.style("yellow", "note")} ${taken.file} in the mirror is another file (${taken.there === "not a file" ? "not a file" : `sha256 ${taken.there}`}), left as it is; this plan's is sha256/${taken.sha256}, which fetch finds`,
        );
      }
      for (const { sources, error } of result.fetch.unavailable ?? []) {
        const steps = [...new Set(sources.flatMap((source) => source.steps ?? []))];
        const when = steps
          .map((step) => graph.disabled.find((item) => item.name === step)?.when)
          .filter(Boolean);
        context.out(
          `  ${context.style("yellow", "note")} ${sources[0]?.file} is not in the mirror: ${error.code === "ERR_SOURCE_MISSING" ? "it is not in the store, and --offline forbids fetching" : "it could not be fetched"}; step ${steps.join(", ")} needs it where its when (${when.join("; ")}) holds, which these variables turn off`,
        );
      }
      context.out(`  use it with: rootstock fetch PLAN --offline --mirror ${typedWord(target)}`);
    });
}
