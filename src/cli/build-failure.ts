import type { RunResult } from "../build/run-plan.ts";
import { RootstockError } from "../errors.ts";

/** The error for a build that did not finish, naming the first failed step's log and shell. */
export function buildFailure(build: RunResult, planArg: string, interrupted = false): RootstockError {
  const first = build.failed[0];
  const count = build.failed.length;
  return new RootstockError(
    interrupted ? "ERR_INTERRUPTED" : "ERR_RUN_FAILED",
    interrupted
      ? "the run was interrupted"
      : `${count} step${count === 1 ? "" : "s"} failed: ${build.failed.join(", ")}`,
    {
      hint:
        first === undefined
          ? "run again to carry on: committed steps are not built again"
          : `read the log with \`rootstock log ${planArg} ${first}\`, enter its build folder with \`rootstock shell ${planArg} ${first}\`; committed steps are kept, so the next run carries on`,
    },
  );
}
