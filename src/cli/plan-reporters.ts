/** How the commands that build and then boot (image, test, boot) show their progress. */
import { EventBus } from "../events.ts";
import { createCheckReporter } from "./check-reporter.ts";
import type { CliContext } from "./context.ts";
import { createProgressReporter } from "./progress-reporter.ts";

export interface PlanReporters {
  emit: EventBus["emit"];
  stop: () => void;
}

/** The build's progress and the images', tests' and machines' lines, on one bus. */
export function planReporters(
  context: CliContext,
  planArg: string,
  set: readonly string[] = [],
): PlanReporters {
  const bus = new EventBus();
  const build = createProgressReporter(context, { live: context.isTerminal, planArg, set });
  const check = createCheckReporter(context, { live: context.isTerminal });
  bus.on(build.listener);
  bus.on(check.listener);
  // The build's status line would otherwise be redrawn under the images' and tests' lines.
  bus.on((event) => {
    if (event.type === "run:done") build.stop();
  });
  return {
    emit: bus.emit,
    stop: () => {
      build.stop();
      check.stop();
    },
  };
}
