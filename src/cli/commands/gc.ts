import type { Command } from "commander";
import { RootstockError } from "../../errors.ts";
import { collectGarbage, GC_DEFAULTS } from "../../store/collect-garbage.ts";
import { formatBytes } from "../../units.ts";
import type { CliContext } from "../context.ts";

export function registerGc(program: Command, context: CliContext): void {
  program
    .command("gc")
    .description("remove step outputs, runs and build folders that no recent run used")
    .option("--dry-run", "list what would be removed, remove nothing")
    .option("--keep-runs <n>", `keep what the last N runs used (default ${GC_DEFAULTS.keepRuns})`)
    .option("--keep-days <d>", `keep what runs of the last D days used (default ${GC_DEFAULTS.keepDays})`)
    .action(async (flags: { dryRun?: boolean; keepRuns?: string; keepDays?: string }) => {
      const number = (flag: string, value: string | undefined) => {
        if (value === undefined) return undefined;
        const parsed = Number(value);
        if (!(Number.isFinite(parsed) && parsed >= 0)) {
          throw new RootstockError("ERR_CLI_BAD_NUMBER", `${flag} ${value}: expected a number of 0 or more`);
        }
        return parsed;
      };
      const keepRuns = number("--keep-runs", flags.keepRuns);
      const keepDays = number("--keep-days", flags.keepDays);
      const result = await collectGarbage(context.storeDir, {
        dryRun: flags.dryRun ?? false,
        ...(keepRuns === undefined ? {} : { keepRuns }),
        ...(keepDays === undefined ? {} : { keepDays }),
      });
      const verb = flags.dryRun ? "would remove" : "removed";
      for (const removal of result.removed) {
        context.out(
          `${verb} ${removal.what.padEnd(5)} ${removal.name}  ${formatBytes(removal.bytes)}  (${removal.reason})`,
        );
      }
      context.out(
        `gc: ${verb} ${result.removed.length} item${result.removed.length === 1 ? "" : "s"}, ${formatBytes(result.bytes)}; ${result.kept} entries kept`,
      );
    });
}
