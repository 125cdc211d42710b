import { isRootstockError, RootstockError } from "../errors.ts";
import type { CliContext } from "./context.ts";
import { withInterrupt } from "./interrupt.ts";

/**
 * Runs `work` with Ctrl-C (or SIGTERM) as its AbortSignal, and says whether it was interrupted. What an
 * interrupted operation throws (an AbortError, say) is the person's doing, not a bug: it becomes
 * ERR_INTERRUPTED.
 */
export async function interruptible<T>(
  context: CliContext,
  work: (signal: AbortSignal) => Promise<T>,
  hint = "run again to carry on: committed steps and images are kept",
): Promise<{ result: T; interrupted: boolean }> {
  let signal: AbortSignal | undefined;
  try {
    const result = await withInterrupt(context, (given) => {
      signal = given;
      return work(given);
    });
    return { result, interrupted: signal?.aborted ?? false };
  } catch (error) {
    if (signal?.aborted && !isRootstockError(error)) {
      throw new RootstockError("ERR_INTERRUPTED", "interrupted", { hint, cause: error });
    }
    throw error;
  }
}
