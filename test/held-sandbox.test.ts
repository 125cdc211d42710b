/**
 * A held sandbox is set up at once and runs its command only when released; discarded at any moment,
 * it leaves no process behind; a folder handed to it is mounted, and no process inside keeps a handle
 * on it (a folder's handle would lead out of the sandbox).
 */
import assert from "node:assert/strict";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { holdSandbox } from "../src/build/run-sandboxed.ts";
import { HANDED_FOLDER, hostRootEntries, type SandboxSpec } from "../src/build/sandbox.ts";
import { processesNaming } from "./helpers/processes.ts";

let base: string;
before(async () => {
  base = await mkdtemp(join(tmpdir(), "rootstock-held-"));
});
after(() => rm(base, { recursive: true, force: true }));

async function folder(name: string): Promise<string> {
  const dir = join(base, name);
  await mkdir(dir, { recursive: true });
  return dir;
}

function spec(kind: "bwrap" | "host", dir: string, binds: SandboxSpec["binds"] = []): SandboxSpec {
  return {
    kind,
    root: kind === "host" ? [] : hostRootEntries(),
    binds: kind === "host" ? [] : [{ from: dir, to: "/build", writable: true }, ...binds],
    env: { PATH: "/usr/bin:/bin" },
    cwd: kind === "host" ? dir : "/build",
  };
}

for (const kind of ["host", "bwrap"] as const) {
  test(`a held ${kind} sandbox runs its command only once released`, async () => {
    const dir = await folder(`released-${kind}`);
    const logFd = openSync(join(dir, "log"), "a");
    try {
      const command = ["/bin/sh", "-c", "echo ran > ran; echo out; echo err >&2"];
      const held = holdSandbox(spec(kind, dir), command, { logFd });
      assert.equal(await held.ready, true);
      assert.equal(existsSync(join(dir, "ran")), false);
      const run = await held.release();
      assert.equal(run.code, 0, readFileSync(join(dir, "log"), "utf8"));
      assert.equal(await readFile(join(dir, "ran"), "utf8"), "ran\n");
      // Released, the command writes to the step's log.
      assert.equal(await readFile(join(dir, "log"), "utf8"), "out\nerr\n");
    } finally {
      closeSync(logFd);
    }
  });

  test(`a held ${kind} sandbox discarded at any moment leaves no process behind`, {
    timeout: 60_000,
  }, async () => {
    const dir = await folder(`discarded-${kind}`);
    // This run's own: another run of the suite on the machine has processes of the same command.
    const marker = `rootstock-held-test-${kind}-${process.pid}`;
    const logFd = openSync(join(dir, "log"), "a");
    try {
      for (const delayMs of [0, 0, 1, 2, 3, 5, 8, 13, 21, 34]) {
        const held = holdSandbox(spec(kind, dir), ["/bin/sh", "-c", `touch never-ran # ${marker}`], {
          logFd,
        });
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        await held.discard();
        assert.deepEqual(processesNaming(marker), [], `processes left after a discard ${delayMs} ms in`);
      }
      assert.equal(existsSync(join(dir, "never-ran")), false);
    } finally {
      closeSync(logFd);
    }
  });
}

test("a held sandbox whose set-up fails is never ready", async () => {
  const dir = await folder("failing");
  const logFd = openSync(join(dir, "log"), "a");
  try {
    const missing = [{ from: join(base, "no-such-folder"), to: "/dep" }];
    const held = holdSandbox(spec("bwrap", dir, missing), ["/bin/true"], { logFd });
    assert.equal(await held.ready, false);
    await held.discard();
    // Why is kept for the caller to say in a line; bwrap's own words stay out of the step's log.
    assert.match(held.setUpMessage(), /^bwrap: .*no-such-folder/);
    assert.equal(await readFile(join(dir, "log"), "utf8"), "");
  } finally {
    closeSync(logFd);
  }
});

test("a folder handed to a held sandbox is mounted where it now is, and no process keeps it open", async () => {
  const dir = await folder("handing");
  const handed = await folder("handed-folder-marker");
  await writeFile(join(handed, "file"), "handed\n");
  const logFd = openSync(join(dir, "log"), "a");
  const folderFd = openSync(handed, "r");
  try {
    const command = [
      "/bin/sh",
      "-c",
      [
        "cat /dep/file > seen",
        // The command's own handles past stdio, then every process's handles on the handed folder.
        "for fd in 3 4 5; do [ -e /proc/self/fd/$fd ] && echo $fd; done > open-fds",
        "for p in /proc/[0-9]*; do ls -l $p/fd/ 2>/dev/null; done | grep -c handed-folder-marker > handles || true",
      ].join("; "),
    ];
    const binds = [{ from: HANDED_FOLDER, to: "/dep" }];
    const held = holdSandbox(spec("bwrap", dir, binds), command, { logFd, folderFd });
    closeSync(folderFd);
    assert.equal(await held.ready, true);
    // As a dependency's output folder is renamed into the store before the held step starts.
    await rename(handed, `${handed}-moved`);
    const run = await held.release();
    assert.equal(run.code, 0, readFileSync(join(dir, "log"), "utf8"));
    assert.equal(await readFile(join(dir, "seen"), "utf8"), "handed\n");
    assert.equal(await readFile(join(dir, "open-fds"), "utf8"), "");
    assert.equal(await readFile(join(dir, "handles"), "utf8"), "0\n");
  } finally {
    closeSync(logFd);
  }
});
