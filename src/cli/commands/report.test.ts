import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";

test("runs gives a run's start in this machine's time, as the clock on the wall shows it", () => {
  // In a child with its own TZ: the test process's zone is fixed once Node has read it.
  const script = `import { localTime } from ${JSON.stringify(new URL("./report.ts", import.meta.url).href)};
    console.log(localTime(Date.UTC(2026, 10, 30, 7, 24, 11)));`;
  const at = (tz: string) =>
    execFileSync(process.execPath, ["--input-type=module", "-e", script], {
      encoding: "utf8",
      env: { ...process.env, TZ: tz },
    }).trim();
  assert.equal(at("UTC"), "2026-11-30 07:24:11");
  assert.equal(at("Pacific/Chatham"), "2026-11-30 21:09:11");
  assert.equal(at("Etc/GMT+12"), "2026-11-29 19:24:11");
});
