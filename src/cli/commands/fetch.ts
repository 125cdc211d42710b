import type { Command } from "commander";
import { openPlan, parseVariableFlags } from "../../plan/open.ts";
import { fetchSources } from "../../sources/fetch-sources.ts";
import { planSources } from "../../sources/plan-sources.ts";
import { formatBytes } from "../../units.ts";
import type { CliContext } from "../context.ts";
import { createFetchReporter } from "../fetch-reporter.ts";
import { interruptible } from "../interruptible.ts";
import { globalMirrors, mirrorOption, parseJobs, setOption } from "../options.ts";

interface FetchFlags {
  offline?: boolean;
  mirror: string[];
  set: string[];
  jobs?: string;
}

export function registerFetch(program: Command, context: CliContext): void {
  program
    .command("fetch")
    .description("make every pinned source of a plan present in the source store")
    .argument("<plan>", "plan folder")
    .option("--offline", "touch no network: use the store and folder mirrors only, and list what is missing")
    .addOption(mirrorOption())
    .addOption(setOption())
    .option("--jobs <n>", "downloads at once (default 4)")
    .action(async (dir: string, flags: FetchFlags) => {
      const { graph } = await openPlan(dir, {
        variables: parseVariableFlags(flags.set),
        identifyTools: false,
      });
      const reporter = createFetchReporter(context);
      const { result } = await interruptible(
        context,
        (signal) =>
          fetchSources(planSources(graph), {
            storeDir: context.storeDir,
            offline: flags.offline ?? false,
            mirrors: globalMirrors(flags.mirror),
            concurrency: parseJobs(flags.jobs, 4),
            emit: reporter.emit,
            signal,
          }),
        "run again to carry on: the files fetched so far are kept",
      ).finally(reporter.finish);
      // A source two steps share is one file, fetched once.
      const fetched = new Map(result.fetched.map((item) => [item.source.sha256, item.bytes]));
      const bytes = [...fetched.values()].reduce((sum, size) => sum + size, 0);
      const files = fetched.size;
      context.out(
        `fetch: ${files} fetched (${formatBytes(bytes)}), ${new Set(result.present.map((item) => item.sha256)).size} already present in ${context.storeDir}`,
      );
    });
}
