/**
 * Runs that did not end well, from their files: one killed mid-step (the journal stops, the step's log
 * went on), one a full store stopped.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { RunSession } from "../src/build/run-session.ts";
import { writeReports } from "../src/report/write-reports.ts";
import { JOURNAL_FILE, readRunRecord } from "../src/store/run-record.ts";
import { sampleJournal } from "./fixtures/sample-journal.ts";
import { resolve, workbench, writePlan } from "./helpers/fixture-plan.ts";

test("a killed run's wall time reaches its last sign of life, marked as a lower bound", async () => {
  const runDir = await mkdtemp(join(tmpdir(), "rootstock-killed-"));
  try {
    const events = sampleJournal();
    const started = events[0]?.time as number;
    // Killed while shell was built: the journal ends at its start, 6 s in.
    const cut = events.slice(
      0,
      events.findIndex((event) => event.type === "step:done" && event.step === "shell"),
    );
    await writeFile(join(runDir, JOURNAL_FILE), `${cut.map((event) => JSON.stringify(event)).join("\n")}\n`);
    await mkdir(join(runDir, "logs"));
    await writeFile(join(runDir, "logs", "shell.log"), "still compiling\n");
    const at = (seconds: number) => new Date(started + seconds * 1000);
    await utimes(join(runDir, JOURNAL_FILE), at(11), at(11));
    await utimes(join(runDir, "logs", "shell.log"), at(40), at(40));
    const { html, markdown } = await writeReports(runDir);
    assert.match(
      await readFile(html, "utf8"),
      /<div class="label">Wall time<\/div><div class="value">≥ 40s<\/div>/,
    );
    const text = await readFile(markdown, "utf8");
    assert.match(text, /^Build time: not measured: the run did not finish/m);
    // shell ran from its start (9 s in) until at least the last sign of life (40 s); no critical path is
    // claimed for a run whose steps did not all end.
    assert.match(text, /\* shell: started \([^)]*\), not finished when the run ended, after at least 31s/);
    assert.doesNotMatch(text, /Critical path/);
    assert.match(await readFile(html, "utf8"), /≥ 31s/);
  } finally {
    await rm(runDir, { recursive: true, force: true });
  }
});

test("a run a full store stopped records the store's refusal, as the terminal shows it, not a bug", async () => {
  const bench = await workbench();
  try {
    const planDir = await writePlan(join(bench.dir, "plan"), { steps: { a: {} } });
    const session = await RunSession.open(await resolve(planDir), {
      storeDir: bench.storeDir,
      jobs: 1,
      tools: new Map(),
    });
    const full = Object.assign(new Error("ENOSPC: no space left on device, write"), {
      code: "ENOSPC",
      syscall: "write",
      path: join(bench.storeDir, "images", "x"),
    });
    await assert.rejects(session.closeWithError(full, false), full);
    const record = await readRunRecord(session.runDir);
    assert.equal(record?.error?.code, "ERR_STORE_UNWRITABLE");
    assert.match(record?.error?.message ?? "", /no space is left on the device/);
  } finally {
    await bench.remove();
  }
});
