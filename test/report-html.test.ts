/** report.html in a real browser: Debian's headless Chromium renders it, with no page error. */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { writeReports } from "../src/report/write-reports.ts";
import { JOURNAL_FILE } from "../src/store/run-record.ts";
import { sampleJournal } from "./fixtures/sample-journal.ts";
import { renderInChromium } from "./helpers/chromium.ts";

test("report.html renders in headless Chromium without errors", async () => {
  const runDir = await mkdtemp(join(tmpdir(), "rootstock-report-"));
  try {
    await writeFile(
      join(runDir, JOURNAL_FILE),
      `${sampleJournal()
        .map((event) => JSON.stringify(event))
        .join("\n")}\n`,
    );
    const { html } = await writeReports(runDir);
    const { errors, png, title } = await renderInChromium(html, join(runDir, "report.png"));
    assert.deepEqual(errors, []);
    assert.equal(title, "tiny — rootstock report");
    assert.ok(png.length > 10_000, `screenshot is only ${png.length} bytes`);
    assert.equal(png.subarray(1, 4).toString(), "PNG");
  } finally {
    await rm(runDir, { recursive: true, force: true });
  }
});
