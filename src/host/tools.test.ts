import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { identifyTool, whyNotFound } from "./tools.ts";

const dirs: string[] = [];
// Sleeps of this run's own length, so that another run of this suite on the machine is not counted.
const own = (base: number) => `${base}.${process.pid}${Math.floor(Math.random() * 1000)}`;
const SLEEP_HANGS = own(1000);
const SLEEP_FORKS = own(1001);
const SLEEP_CTRL_C = own(1002);
after(() => Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true }))));

test("a tool whose version query hangs, leaving a child that holds its output, is identified by its hash alone", {
  timeout: 60_000,
}, async () => {
  const dir = await mkdtemp(join(tmpdir(), "rootstock-tools-"));
  dirs.push(dir);
  // The shell waits for its sleep; killed alone, it would leave the sleep holding the pipe.
  await writeFile(join(dir, "hangs"), `#!/bin/sh\ncase "$1" in -*) sleep ${SLEEP_HANGS};; esac\necho ran\n`, {
    mode: 0o755,
  });
  const identity = await identifyTool("hangs", dir);
  assert.equal(identity?.version, "unknown");
  assert.match(identity?.sha256 ?? "", /^[0-9a-f]{64}$/);
  // Its whole process group was killed: nothing of it is left running.
  const left = spawnSync("pgrep", ["-f", `sleep ${SLEEP_HANGS}`], { encoding: "utf8" }).stdout.trim();
  assert.equal(left, "");
});

test("a command that is not found, though something of its name is on the PATH, is said to be what it is", async () => {
  const dir = await mkdtemp(join(tmpdir(), "rootstock-tools-"));
  dirs.push(dir);
  await symlink(join(dir, "gone"), join(dir, "dangling"));
  await mkdir(join(dir, "folder"));
  await writeFile(join(dir, "plain"), "#!/bin/sh\n", { mode: 0o644 });
  const path = `/nonexistent:${dir}`;
  assert.equal(whyNotFound("dangling", path), `${dir}/dangling is a link that leads nowhere`);
  assert.equal(whyNotFound("folder", path), `${dir}/folder is a folder`);
  assert.equal(whyNotFound("plain", path), `${dir}/plain is not executable (mode 0644)`);
  assert.equal(whyNotFound("absent", path), undefined);
  await symlink(join(dir, "loop-b"), join(dir, "loop-a"));
  await symlink(join(dir, "loop-a"), join(dir, "loop-b"));
  assert.equal(whyNotFound("loop-a", path), `${dir}/loop-a is a link that leads round in a loop`);
});

test("a tool that prints its version and leaves a child holding its output is identified by that version", {
  timeout: 60_000,
}, async () => {
  const dir = await mkdtemp(join(tmpdir(), "rootstock-tools-"));
  dirs.push(dir);
  await writeFile(join(dir, "forks"), `#!/bin/sh\n(sleep ${SLEEP_FORKS} &)\necho "forks 1.2.3"\n`, {
    mode: 0o755,
  });
  const identity = await identifyTool("forks", dir);
  assert.equal(identity?.version, "forks 1.2.3");
  assert.equal(spawnSync("pgrep", ["-f", `sleep ${SLEEP_FORKS}`], { encoding: "utf8" }).stdout.trim(), "");
});

test("rootstock ending while a version query hangs (Ctrl-C) takes the query's processes along", {
  timeout: 60_000,
}, async () => {
  const dir = await mkdtemp(join(tmpdir(), "rootstock-tools-"));
  dirs.push(dir);
  await writeFile(join(dir, "hangs"), `#!/bin/sh\ncase "$1" in -*) sleep ${SLEEP_CTRL_C};; esac\n`, {
    mode: 0o755,
  });
  const tools = join(import.meta.dirname, "tools.ts");
  const script = `import { identifyTool } from ${JSON.stringify(tools)};
identifyTool("hangs", ${JSON.stringify(dir)});
setTimeout(() => process.exit(130), 500);`;
  spawnSync(process.execPath, ["--input-type=module", "-e", script], { stdio: "ignore" });
  assert.equal(spawnSync("pgrep", ["-f", `sleep ${SLEEP_CTRL_C}`], { encoding: "utf8" }).stdout.trim(), "");
  // Ended by the signal itself, with nothing else listening for it: no "exit" event comes.
  const signalled = `import { identifyTool } from ${JSON.stringify(tools)};
identifyTool("hangs", ${JSON.stringify(dir)});
setTimeout(() => process.kill(process.pid, "SIGINT"), 500);`;
  const ended = spawnSync(process.execPath, ["--input-type=module", "-e", signalled], { stdio: "ignore" });
  assert.equal(ended.signal, "SIGINT", "it still ends as Ctrl-C ends it");
  assert.equal(spawnSync("pgrep", ["-f", `sleep ${SLEEP_CTRL_C}`], { encoding: "utf8" }).stdout.trim(), "");
});

test("squashfs-tools are asked -version: their --version is a usage text beginning SYNTAX:", {
  skip: existsSync("/usr/bin/mksquashfs") ? false : "no mksquashfs here",
}, async () => {
  const identity = await identifyTool("mksquashfs", "/usr/bin");
  assert.match(identity?.version ?? "", /^mksquashfs version \d/);
});
