import type { Command } from "commander";
import { RootstockError, RootstockErrors } from "../../errors.ts";
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
      const number = (flag: string, value: string | undefined, whole: boolean) => {
        if (value === undefined) return undefined;
        const parsed = Number(value);
        if (!(Number.isFinite(parsed) && parsed >= 0 && (!whole || Number.isInteger(parsed)))) {
          throw new RootstockError(
            "ERR_CLI_BAD_NUMBER",
            `${flag} ${JSON.stringify(value)}: expected ${whole ? "a whole number" : "a number"} of 0 or more`,
            { hint: whole ? `for example ${flag} 5` : `for example ${flag} 7, or ${flag} 0.5 for 12 hours` },
          );
        }
        return parsed;
      };
      const keepRuns = number("--keep-runs", flags.keepRuns, true);
      const keepDays = number("--keep-days", flags.keepDays, false);
      const verb = flags.dryRun ? "would remove" : "removed";
      // Each removal as it happens: an interrupted gc has said what it did.
      let removedSoFar = 0;
      let bytesSoFar = 0;
      const controller = new AbortController();
      const stopListening = context.whenInterrupted(() => controller.abort(new Error("interrupted")));
      let result: Awaited<ReturnType<typeof collectGarbage>>;
      try {
        result = await collectGarbage(context.storeDir, {
          dryRun: flags.dryRun ?? false,
          ...(keepRuns === undefined ? {} : { keepRuns }),
          ...(keepDays === undefined ? {} : { keepDays }),
          signal: controller.signal,
          emit: (event) => {
            if (event.type !== "gc:remove") return;
            removedSoFar++;
            bytesSoFar += event.bytes;
            context.out(
              `${verb} ${event.what.padEnd(5)} ${event.name}  ${formatBytes(event.bytes)}  (${event.reason})`,
            );
          },
        });
      } catch (error) {
        if (!controller.signal.aborted) throw error;
        throw new RootstockError(
          "ERR_INTERRUPTED",
          flags.dryRun
            ? `gc --dry-run was interrupted after it listed ${removedSoFar} item${removedSoFar === 1 ? "" : "s"}, ${formatBytes(bytesSoFar)}`
            : `gc was interrupted after it removed ${removedSoFar} item${removedSoFar === 1 ? "" : "s"}, ${formatBytes(bytesSoFar)}`,
          {
            hint: flags.dryRun
              ? "a dry run removes nothing: run it again to see the whole list"
              : "nothing a run uses was touched; what it had taken out of the store and not yet removed goes at the next gc",
          },
        );
      } finally {
        stopListening();
      }
      context.out(
        `gc: ${verb} ${result.removed.length} item${result.removed.length === 1 ? "" : "s"}, ${formatBytes(result.bytes)}; ${result.kept} ${result.kept === 1 ? "entry" : "entries"} kept`,
      );
      const { failed } = result;
      if (failed.length > 0) {
        throw new RootstockErrors(
          "ERR_GC_INCOMPLETE",
          `gc could not ${flags.dryRun ? "check" : "remove"} ${failed.length} item${failed.length === 1 ? "" : "s"}: ${failed.map((failure) => `${failure.what} ${failure.name}`).join(", ")}`,
          failed.map((failure) => failure.error),
          {
            hint: flags.dryRun
              ? "the rest is listed above; once these are dealt with, run gc again"
              : "everything else was removed; once these are dealt with, run gc again",
          },
        );
      }
    });
}
