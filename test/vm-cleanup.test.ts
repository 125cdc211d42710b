/**
 * QEMU never outlives rootstock: not when rootstock is killed with SIGKILL, not when it dies of an
 * uncaught error, not when it exits without stopping its machines, and not when a test throws.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { runTests } from "../src/check/run-tests.ts";
import { CMDLINE, type TestGuest, testGuest } from "./fixtures/guest.ts";

let work: string;
let guest: TestGuest;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "rootstock-cleanup-test-"));
  guest = await testGuest({ storeDir: work });
  for (const mode of ["wait", "throw", "exit"]) await mkdir(tmpOf(mode));
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits up to 10 s for the process to be gone. */
async function gone(pid: number): Promise<boolean> {
  for (let tries = 0; tries < 200; tries++) {
    if (!alive(pid)) return true;
    await sleep(50);
  }
  return false;
}

const tmpOf = (mode: string) => join(work, `tmp-${mode}`);

/** Runs hold-machine.ts in its own Node; resolves with QEMU's pid once the machine answers. */
function holdMachine(mode: "wait" | "throw" | "exit") {
  const child = spawn(
    process.execPath,
    [
      join(import.meta.dirname, "fixtures", "hold-machine.ts"),
      guest.kernel,
      guest.initrd.path,
      join(work, mode),
      mode,
    ],
    // A $TMPDIR of its own: QEMU's socket folder goes there, and must go with it.
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, TMPDIR: tmpOf(mode) } },
  );
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const qemuPid = new Promise<number>((resolve, reject) => {
    let text = "";
    let errors = "";
    child.stdout.on("data", (chunk: Buffer) => {
      text += chunk.toString();
      const line = text.split("\n")[0];
      if (text.includes("\n") && line) resolve(JSON.parse(line).pid as number);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      errors += chunk.toString();
    });
    child.once("exit", (code) =>
      reject(new Error(`hold-machine exited (${code}) before its machine answered:\n${errors}`)),
    );
  });
  return { child, exited, qemuPid };
}

test("QEMU dies when rootstock is killed with SIGKILL", async () => {
  const held = holdMachine("wait");
  const pid = await held.qemuPid;
  assert.ok(alive(pid), "QEMU runs while rootstock does");
  held.child.kill("SIGKILL");
  await held.exited;
  assert.ok(await gone(pid), `QEMU ${pid} is gone`);
});

test("QEMU dies when rootstock dies of an uncaught error, or exits without stopping it", async () => {
  const thrown = holdMachine("throw");
  const thrownPid = await thrown.qemuPid;
  assert.equal(await thrown.exited, 1);
  assert.ok(await gone(thrownPid), `QEMU ${thrownPid} is gone after the uncaught error`);

  const exiting = holdMachine("exit");
  const exitingPid = await exiting.qemuPid;
  assert.equal(await exiting.exited, 0);
  assert.ok(await gone(exitingPid), `QEMU ${exitingPid} is gone after process.exit`);
  // And so is the folder of its sockets.
  for (const mode of ["throw", "exit"]) assert.deepEqual(await readdir(tmpOf(mode)), [], mode);
});

test("a test that throws still has its machine stopped", async () => {
  const module = join(work, "throws.test.ts");
  const pidFile = join(work, "throws.pid");
  await writeFile(
    module,
    `import { writeFileSync } from "node:fs";
export default {
  async "throws while the machine runs"(machine) {
    await machine.succeed("true");
    writeFileSync(${JSON.stringify(pidFile)}, String(machine.vm.pid));
    throw new Error("boom");
  },
};
`,
  );
  const result = await runTests(
    [
      {
        image: "guest",
        machine: { kernel: guest.kernel, initrd: guest.initrd.path, cmdline: CMDLINE, accel: "tcg" },
        modules: [{ path: module, display: "tests/throws.test.ts" }],
      },
    ],
    { runDir: join(work, "run") },
  );
  assert.equal(result.ok, false);
  assert.equal(result.cases[0]?.status, "failed");
  assert.equal(result.cases[0]?.message, "boom");
  const pid = Number(await readFile(pidFile, "utf8"));
  assert.equal(alive(pid), false, "stopped before runTests returned");
});
