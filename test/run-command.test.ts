/** Host tools that rootstock runs (mksquashfs, xz, mke2fs…): what a missing one says, and that none outlives it. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { runCommand } from "../src/host/run-command.ts";

test("a tool that is not on PATH is said so, with the doctor's hint", async () => {
  await assert.rejects(runCommand("rootstock-no-such-tool", ["x"]), (error: unknown) => {
    assert.ok(error instanceof Error && "code" in error);
    assert.equal(error.code, "ERR_HOST_TOOL_MISSING");
    assert.match(error.message, /cannot run rootstock-no-such-tool: it is not on this host's PATH/);
    return true;
  });
});

test("a tool rootstock runs dies when rootstock is killed with SIGKILL", async () => {
  const modules = ["../src/host/run-command.ts", "../src/vm/process-reaper.ts"].map(
    // The URL as it is: its pathname is already percent-encoded (a clone under "a b" or "ü").
    (path) => new URL(path, import.meta.url).href,
  );
  const script = `
    import { runCommand } from ${JSON.stringify(modules[0])};
    import { liveProcesses } from ${JSON.stringify(modules[1])};
    runCommand("sleep", ["60"]).catch(() => {});
    setTimeout(() => console.log(JSON.stringify(liveProcesses())), 300);
    setInterval(() => {}, 1 << 30);
  `;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const pids = await new Promise<number[]>((resolve, reject) => {
    let text = "";
    child.stdout.on("data", (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes("\n")) resolve(JSON.parse(text.split("\n")[0] as string) as number[]);
    });
    child.once("exit", (code) => reject(new Error(`the holder exited (${code}) early`)));
  });
  assert.equal(pids.length, 1);
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  assert.ok(alive(pids[0] as number), "the tool runs while rootstock does");
  child.kill("SIGKILL");
  let gone = false;
  for (let tries = 0; tries < 100 && !gone; tries++) {
    gone = !alive(pids[0] as number);
    if (!gone) await sleep(50);
  }
  assert.ok(gone, `the tool ${pids[0]} is gone`);
});
