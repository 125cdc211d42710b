import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { runRecord } from "../../test/fixtures/run-record.ts";
import { newRunId, processStart, runIsLive, runIsLiveById, runsDir, writeRunRecord } from "./run-record.ts";

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "rootstock-run-record-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A process whose name has spaces and parentheses, which /proc/PID/stat shows unescaped. */
async function oddlyNamedSleeper(): Promise<ReturnType<typeof spawn>> {
  const link = join(dir, "a) b (c");
  await symlink("/bin/sleep", link).catch(() => {});
  const child = spawn(link, ["30"], { stdio: "ignore" });
  await once(child, "spawn");
  return child;
}

test("a process's start names it: stable for one process, different for another, absent once it is gone", async () => {
  const own = processStart(process.pid);
  assert.match(own ?? "", /^[0-9a-f-]{36}\/\d+$/);
  assert.equal(processStart(process.pid), own);

  const child = await oddlyNamedSleeper();
  const childStart = processStart(child.pid as number);
  assert.match(childStart ?? "", /^[0-9a-f-]{36}\/\d+$/, "a name with ') (' does not shift the fields");
  assert.notEqual(childStart, own);
  child.kill("SIGKILL");
  await once(child, "exit");
  assert.equal(processStart(child.pid as number), undefined);
});

test("a killed process that its parent has not reaped yet (a zombie) has no start", async () => {
  // The shell becomes a sleep that never waits for its child.
  const parent = spawn("sh", ["-c", "sleep 30 & echo $!; exec sleep 30"], {
    stdio: ["ignore", "pipe", "ignore"],
  });
  const [line] = (await once(parent.stdout as NodeJS.ReadableStream, "data")) as [Buffer];
  const orphan = Number(line.toString().trim());
  assert.ok(processStart(orphan));
  process.kill(orphan, "SIGKILL");
  for (let tries = 0; tries < 100 && processStart(orphan) !== undefined; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.equal(processStart(orphan), undefined);
  parent.kill("SIGKILL");
  await once(parent, "exit");
});

test("a run is live only while its record says running and its own process is alive", async () => {
  const own = processStart(process.pid) as string;
  assert.equal(runIsLive(runRecord({ processStart: own })), true);
  assert.equal(runIsLive(runRecord({ processStart: own, state: "ok" })), false, "ended");
  assert.equal(runIsLive(runRecord({})), false, "a record that names no process");
  // The same pid started at another time is another process: the pid was reused.
  const reused = own.replace(/\d+$/, (ticks) => String(Number(ticks) + 1));
  assert.equal(runIsLive(runRecord({ processStart: reused })), false, "a reused pid");

  const child = await oddlyNamedSleeper();
  const running = runRecord({ pid: child.pid as number, processStart: processStart(child.pid as number) });
  assert.equal(runIsLive(running), true);
  child.kill("SIGKILL");
  await once(child, "exit");
  assert.equal(runIsLive(running), false, "its process was killed");
});

test("runIsLiveById reads the run's record from the store, and a run with no record is not live", async () => {
  const storeDir = join(dir, "store");
  const live = runRecord({ processStart: processStart(process.pid) });
  await mkdir(join(runsDir(storeDir), live.runId), { recursive: true });
  writeRunRecord(join(runsDir(storeDir), live.runId), live);
  assert.equal(await runIsLiveById(storeDir, live.runId), true);
  assert.equal(await runIsLiveById(storeDir, newRunId()), false);
});
