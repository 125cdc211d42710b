/**
 * A step interrupted at any moment, even while bwrap is still setting its sandbox up, ends with every
 * process of its sandbox gone. bwrap's --new-session takes the sandbox out of the process group that is
 * killed, and an early kill can beat bwrap's parent-death signal; the lifeline covers both.
 */
import assert from "node:assert/strict";
import { closeSync, openSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { runSandboxed } from "../src/build/run-sandboxed.ts";
import { hostRootEntries, type SandboxSpec } from "../src/build/sandbox.ts";
import { processesNaming } from "./helpers/processes.ts";

let base: string;
before(async () => {
  base = await mkdtemp(join(tmpdir(), "rootstock-sandbox-abort-"));
});
after(() => rm(base, { recursive: true, force: true }));

for (const kind of ["host", "bwrap"] as const) {
  // A timeout of its own: the failure this guards against was a run that never ended.
  test(`a ${kind} sandbox aborted at any moment of its start leaves no process behind`, {
    timeout: 60_000,
  }, async () => {
    const dir = join(base, kind);
    await mkdir(dir, { recursive: true });
    // This run's own: another run of the suite on the machine has processes of the same command.
    const marker = `rootstock-abort-test-${kind}-${process.pid}`;
    const spec: SandboxSpec = {
      kind,
      root: kind === "host" ? [] : hostRootEntries(),
      binds: kind === "host" ? [] : [{ from: dir, to: "/build", writable: true }],
      env: { PATH: "/usr/bin:/bin" },
      cwd: kind === "host" ? dir : "/build",
    };
    const logFd = openSync(join(dir, "log"), "a");
    try {
      // From the earliest moment (aborted before the spawn) to well into the command.
      for (const delayMs of [-1, 0, 0, 1, 2, 3, 5, 8, 13, 21, 34]) {
        const controller = new AbortController();
        if (delayMs < 0) controller.abort();
        else setTimeout(() => controller.abort(), delayMs);
        const run = await runSandboxed(spec, ["/bin/sh", "-c", `while :; do sleep 0.05; done # ${marker}`], {
          logFd,
          signal: controller.signal,
        });
        assert.equal(run.aborted, true);
        assert.deepEqual(await leftAfter(marker), [], `processes left after an abort ${delayMs} ms in`);
      }
    } finally {
      closeSync(logFd);
    }
  });
}

/**
 * What is left of a sandbox once its run has returned. A bwrap killed as it clones the namespace's init
 * can leave that child for a moment: reparented, it kills itself as it finds its parent gone
 * (--die-with-parent), within milliseconds. What is still there after a second was left behind.
 */
async function leftAfter(marker: string): Promise<number[]> {
  for (let waited = 0; waited < 1000; waited += 20) {
    if (processesNaming(marker).length === 0) return [];
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return processesNaming(marker);
}
