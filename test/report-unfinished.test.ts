/** The reports of a run killed mid-step, from its files: the journal stops, the step's log went on. */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { writeReports } from "../src/report/write-reports.ts";
import { JOURNAL_FILE } from "../src/store/run-record.ts";
import { sampleJournal } from "./fixtures/sample-journal.ts";

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
    assert.match(await readFile(markdown, "utf8"), /^Build time: not measured: the run did not finish/m);
  } finally {
    await rm(runDir, { recursive: true, force: true });
  }
});
