/** report.html in a real browser: Debian's headless Chromium renders it, with no page error. */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { chromium } from "playwright-core";
import { JOURNAL_FILE } from "../src/report/journal-file.ts";
import { writeReports } from "../src/report/write-reports.ts";
import { sampleJournal } from "./fixtures/sample-journal.ts";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

/** Opens a page headless and returns a screenshot and every error the page logged. */
export async function renderInChromium(
  file: string,
  screenshot: string,
): Promise<{ errors: string[]; png: Buffer; title: string }> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(message.text());
    });
    page.on("pageerror", (error) => errors.push(error.message));
    page.on("requestfailed", (request) => errors.push(`request failed: ${request.url()}`));
    await page.goto(`file://${file}`, { waitUntil: "load" });
    const png = await page.screenshot({ path: screenshot, fullPage: true });
    return { errors, png, title: await page.title() };
  } finally {
    await browser.close();
  }
}

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
