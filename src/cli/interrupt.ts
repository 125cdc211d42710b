import type { CliContext } from "./context.ts";

/**
 * Turns Ctrl-C into an AbortSignal for the duration of a long operation, so it can stop cleanly; the
 * context notes the signal, for the command's exit status.
 */
export async function withInterrupt<T>(
  context: CliContext,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    context.interruptedBy ??= signal;
    controller.abort();
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  process.once("SIGHUP", onSignal);
  try {
    return await work(controller.signal);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    process.off("SIGHUP", onSignal);
  }
}
