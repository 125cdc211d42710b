import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { capture } from "../../test/helpers/captured-output.ts";
import type { TestPlanResult } from "../check/test-plan.ts";
import { RootstockError } from "../errors.ts";
import { reportTestOutcome } from "./test-outcome.ts";

let work: string | undefined;
after(() => (work ? rm(work, { recursive: true, force: true }) : undefined));

/** A run whose one test, on `image`, failed; its console log is there. */
async function failedOn(image: string, netbooted?: Map<string, string>): Promise<TestPlanResult> {
  work ??= await mkdtemp(join(tmpdir(), "rootstock-test-outcome-"));
  const runDir = join(work, image);
  await mkdir(runDir, { recursive: true });
  const consoleLog = join(runDir, "console.log");
  await writeFile(consoleLog, "booting\n");
  const failure = {
    image,
    module: "tests/a.test.ts",
    name: "boots",
    status: "failed" as const,
    ms: 5,
    consoleLog,
  };
  return {
    ok: false,
    runId: "r",
    runDir,
    build: {
      runId: "r",
      runDir,
      ok: true,
      outputs: new Map(),
      built: [],
      cached: [],
      failed: [],
      skipped: [],
    },
    images: new Map(),
    tests: { ok: false, cases: [failure], runDir, junit: join(runDir, "junit.xml"), ms: 5 },
    failures: [failure],
    ...(netbooted ? { netbooted } : {}),
  };
}

const hintOf = (result: TestPlanResult): string => {
  const { context } = capture();
  try {
    reportTestOutcome(result, "plans/p", context, false);
  } catch (error) {
    assert.ok(error instanceof RootstockError);
    return error.hint ?? "";
  }
  assert.fail("a failed test must throw");
};

test("a failed test's hint boots the image by hand the way it was booted: boot, or netboot for a netbooted one", async () => {
  assert.match(hintOf(await failedOn("ird")), /boot the image by hand with `rootstock boot plans\/p ird`$/);
  assert.match(
    hintOf(await failedOn("sys-netboot", new Map([["sys-netboot", "sys"]]))),
    /netboot it by hand with `rootstock netboot plans\/p sys` and the QEMU line it prints$/,
  );
});
