import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { identifyTool } from "./tools.ts";

const dirs: string[] = [];
after(() => Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true }))));

test("a tool whose version query hangs, leaving a child that holds its output, is identified by its hash alone", {
  timeout: 60_000,
}, async () => {
  const dir = await mkdtemp(join(tmpdir(), "rootstock-tools-"));
  dirs.push(dir);
  // The shell waits for its sleep; killed alone, it would leave the sleep holding the pipe.
  await writeFile(join(dir, "hangs"), '#!/bin/sh\ncase "$1" in -*) sleep 1000.25;; esac\necho ran\n', {
    mode: 0o755,
  });
  const identity = await identifyTool("hangs", dir);
  assert.equal(identity?.version, "unknown");
  assert.match(identity?.sha256 ?? "", /^[0-9a-f]{64}$/);
  // Its whole process group was killed: nothing of it is left running.
  const left = spawnSync("pgrep", ["-f", "sleep 1000.25"], { encoding: "utf8" }).stdout.trim();
  assert.equal(left, "");
});
