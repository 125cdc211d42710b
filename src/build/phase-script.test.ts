import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { phasesDefinitions } from "./phase-script.ts";

test("the phase script names a step's script as /bin/sh (dash) reads it, whatever its name holds", () => {
  const dir = mkdtempSync(join(tmpdir(), "rootstock-phase-"));
  try {
    const script = join(dir, "b\tx 'y'.sh");
    writeFileSync(script, "do_install() { echo sourced; }\n");
    const out = execFileSync("/bin/sh", ["-c", `${phasesDefinitions(script)}\ndo_install`], {
      encoding: "utf8",
    });
    assert.equal(out, "sourced\n");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
