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
  const stopListening = context.whenInterrupted(() => controller.abort());
  try {
    return await work(controller.signal);
  } finally {
    stopListening();
  }
}
