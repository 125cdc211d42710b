/** What `rootstock test` and the demo print after a test run, and the error when it failed. */
import type { TestPlanResult } from "../check/test-plan.ts";
import { RootstockError } from "../errors.ts";
import { currentFolderIfAny } from "../units.ts";
import { buildFailure } from "./build-failure.ts";
import { testLabel } from "./check-reporter.ts";
import type { CliContext } from "./context.ts";

const { existsSync, readdirSync } = process.getBuiltinModule("node:fs");
const { dirname, join, relative } = process.getBuiltinModule("node:path");

/** A path as short as it reads from here; whole when the folder here was removed (it needs none). */
export function shownPath(path: string): string {
  const here = currentFolderIfAny();
  const near = here === undefined ? path : relative(here, path);
  return near.startsWith("..") ? path : near;
}

/** Prints where the report, JUnit XML and console logs are; throws when a build or test failed. */
export function reportTestOutcome(
  result: TestPlanResult,
  planArg: string,
  context: CliContext,
  interrupted: boolean,
  set: readonly string[] = [],
): void {
  if (result.reports) {
    context.out(`report:  ${shownPath(`${result.runDir}/report.html`)}`);
    context.out(`         ${shownPath(`${result.runDir}/report.md`)}`);
  }
  if (!result.tests) {
    if (result.junit) context.out(`junit:   ${shownPath(result.junit)}`);
    throw buildFailure(result.build, context.planWords(planArg, set), interrupted);
  }
  context.out(`junit:   ${shownPath(result.tests.junit)}`);
  // Only logs that are there: a machine that never started (KVM asked for and missing) wrote none.
  const consoleLogs = (cases: TestPlanResult["failures"]) => [
    ...new Set(
      cases.flatMap((test) => (test.consoleLog && existsSync(test.consoleLog) ? [test.consoleLog] : [])),
    ),
  ];
  for (const log of consoleLogs(result.tests.cases)) context.out(`console: ${shownPath(log)}`);
  // The build logs of this run's steps: none when every step came from the cache (`rootstock log`
  // finds the build that made each).
  const buildLogs = join(result.runDir, "logs");
  if (existsSync(buildLogs) && readdirSync(buildLogs).length > 0)
    context.out(`logs:    ${shownPath(buildLogs)}`);
  if (result.failures.length === 0 && result.ok) return;
  const count = result.failures.length;
  const logs = consoleLogs(result.failures);
  // A netbooted image is booted by hand from its server; `boot` boots the [boot] table's way.
  const first = result.failures[0]?.image ?? "";
  const netbooted = result.netbooted?.get(first);
  const byHand =
    netbooted === undefined
      ? `boot the image by hand with \`rootstock boot ${context.planWords(planArg, set)} ${first}\``
      : `netboot it by hand with \`rootstock netboot ${context.planWords(planArg, set)} ${netbooted}\` and the QEMU line it prints`;
  throw new RootstockError(
    interrupted ? "ERR_INTERRUPTED" : "ERR_TEST_FAILED",
    interrupted
      ? "the tests were interrupted"
      : `${count} test${count === 1 ? "" : "s"} failed: ${result.failures.map((test) => testLabel({ ...test, test: test.name })).join(", ")}`,
    {
      hint:
        logs.length > 0
          ? `read the console log${logs.length === 1 ? "" : "s"}: ${logs.map(shownPath).join(", ")} (QEMU's own messages are in qemu.log beside ${logs.length === 1 ? "it" : "each"}); ${byHand}`
          : `the run's folder holds what is known: ${shownPath(dirname(result.tests.junit))}`,
    },
  );
}
