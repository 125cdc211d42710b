/** Opens an HTML file in Debian's headless Chromium: its screenshot and every error the page logged. */
import { chromium } from "playwright-core";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

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
