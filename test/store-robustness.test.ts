/**
 * What a build may leave behind: folders shut with chmod 000 (in its build folder or its output),
 * unreadable files, names the store refuses, setuid programs. None of it may block a later run or gc,
 * leave anything in the store's tmp/, or open the store to other users.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import {
  chmod,
  chown,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { runPlan } from "../src/build/run-plan.ts";
import type { RootstockEvent } from "../src/events.ts";
import { buildImage } from "../src/image/build-image.ts";
import type { Manifest } from "../src/store/manifest.ts";
import { removeTree } from "../src/store/remove-tree.ts";
import { readStepHistory, type StepHistory } from "../src/store/step-history.ts";
import { STACK_LINE } from "./helpers/cli.ts";
import { resolve, type Workbench, workbench, writePlan } from "./helpers/fixture-plan.ts";
import { rootstock } from "./helpers/rootstock-process.ts";

let bench: Workbench;
before(async () => {
  bench = await workbench();
});
after(() => bench.remove());

const NOBODY = 65534;
const ROOTSTOCK_BIN = fileURLToPath(new URL("../bin/rootstock.js", import.meta.url));
const isRoot = process.getuid?.() === 0;
const setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].find((path) => existsSync(path));
/** Whether the nobody user can run Node on rootstock's own files where this checkout lies. */
function nobodyCanRunRootstock(): boolean {
  const probe = spawnSync(
    setpriv as string,
    [
      `--reuid=${NOBODY}`,
      `--regid=${NOBODY}`,
      "--clear-groups",
      process.execPath,
      "-e",
      "require('node:fs').readFileSync(process.argv[1])",
      ROOTSTOCK_BIN,
    ],
    { stdio: "ignore" },
  );
  return probe.status === 0;
}
const asNobody = !isRoot
  ? "needs root to switch to the nobody user"
  : !setpriv
    ? "setpriv (util-linux) is missing, so rootstock cannot be run as another user"
    : !nobodyCanRunRootstock()
      ? "the nobody user cannot read rootstock's files where this checkout lies"
      : false;

/** A store the nobody user owns, and rootstock run as that user on it. */
async function nobodysStore(name: string) {
  const dir = join(bench.dir, name);
  const storeDir = join(dir, "store");
  await mkdir(storeDir, { recursive: true });
  await chown(dir, NOBODY, NOBODY);
  await chown(storeDir, NOBODY, NOBODY);
  const run = (args: string[]) =>
    rootstock(["--store", storeDir, ...args], {
      command: [
        setpriv as string,
        `--reuid=${NOBODY}`,
        `--regid=${NOBODY}`,
        "--clear-groups",
        process.execPath,
      ],
      env: { HOME: dir },
    });
  return { dir, storeDir, run };
}

/** A step that shuts folders of its build folder and its output, then fails: its folder is kept. */
async function shutPlan(dir: string): Promise<string> {
  return writePlan(join(dir, "plan"), {
    name: "shut",
    steps: {
      shut: {
        script:
          'do_compile() { mkdir -p sub/deeper; echo x > sub/deeper/f; chmod 000 sub/deeper sub; chmod 000 /build; chmod 000 "$OUT"; false; }\n',
      },
    },
  });
}

const lastBuild = async (storeDir: string) =>
  (await readStepHistory(storeDir, "shut", "shut")) as StepHistory;

test("a build folder shut with chmod 000 does not block the step's next run, and gc removes it", {
  skip: asNobody,
}, async () => {
  const { dir, storeDir, run } = await nobodysStore("shut");
  const planDir = await shutPlan(dir);
  const first = await run(["run", planDir]);
  assert.equal(first.code, 1, first.stderr);
  assert.match(first.stdout, /✗ shut failed: exited with status 1/);
  const kept = (await lastBuild(storeDir)).workDir as string;
  assert.ok(existsSync(join(kept, "build")));
  // The shell enters it, shut as it is: its folders are rootstock's to open again.
  const shell = await run(["shell", planDir, "shut", "-c", "ls sub"]);
  assert.equal(shell.code, 0, `${shell.stdout}\n${shell.stderr}`);
  assert.match(shell.stdout, /deeper/);

  // The next run removes the kept folder and builds the step again, which fails the same way.
  const second = await run(["run", planDir]);
  assert.equal(second.code, 1, second.stderr);
  assert.match(second.stdout, /▶ shut\n/);
  assert.match(second.stdout, /✗ shut failed: exited with status 1/);
  assert.equal(existsSync(kept), false, "the first run's kept folder is gone");

  const gc = await run(["gc", "--keep-runs", "0", "--keep-days", "0"]);
  assert.equal(gc.code, 0, gc.stdout + gc.stderr);
  assert.match(gc.stdout, /removed work /);
  assert.deepEqual(await readdir(join(storeDir, "work")), []);
  assert.deepEqual(await readdir(join(storeDir, "runs")), []);
});

test("a kept folder that cannot be removed fails the step, saying why; gc reports it and does the rest", {
  skip: asNobody,
}, async () => {
  const { dir, storeDir, run } = await nobodysStore("stuck");
  const planDir = await shutPlan(dir);
  assert.equal((await run(["run", planDir])).code, 1);
  // A folder of another user (root, this test) in it: nobody may not empty it.
  const kept = await lastBuild(storeDir);
  await mkdir(join(kept.workDir as string, "rootsdir"));
  await writeFile(join(kept.workDir as string, "rootsdir", "file"), "");

  const next = await run(["run", planDir]);
  assert.equal(next.code, 1, next.stderr);
  assert.match(next.stdout, new RegExp(`✗ shut failed: cannot remove ${kept.workDir}: EACCES`));
  assert.match(
    await readFile((await lastBuild(storeDir)).log as string, "utf8"),
    /ERR_STORE_REMOVE_FAILED[\s\S]*hint: .*another user/,
  );

  const gc = await run(["gc", "--keep-runs", "0", "--keep-days", "0"]);
  assert.equal(gc.code, 1, gc.stdout + gc.stderr);
  assert.doesNotMatch(gc.stderr, /internal error/);
  assert.doesNotMatch(gc.stderr, STACK_LINE);
  assert.match(
    gc.stderr,
    new RegExp(`gc could not remove 1 item: work ${kept.runId} \\[ERR_GC_INCOMPLETE\\]`),
  );
  assert.match(gc.stderr, new RegExp(`cannot remove ${join(storeDir, "work", kept.runId)}: EACCES`));
  assert.deepEqual(await readdir(join(storeDir, "runs")), [], "the runs' folders went");
  assert.deepEqual(await readdir(join(storeDir, "work")), [kept.runId]);
  assert.ok(
    (await readdir(join(storeDir, "work", kept.runId), { recursive: true })).includes("shut/rootsdir/file"),
  );
});

test("gc run by a user who does not own a run folder says whose it is and who can remove it", {
  skip: asNobody,
}, async () => {
  const { storeDir, run } = await nobodysStore("foreign");
  const runs = join(storeDir, "runs");
  await mkdir(runs);
  await chown(runs, NOBODY, NOBODY);
  // Root's run folder, a day old, holding a file nobody cannot remove.
  const foreign = join(runs, "20200101-000000-000-abcdef");
  await mkdir(join(foreign, "logs"), { recursive: true });
  await writeFile(join(foreign, "logs", "a.log"), "a\n");
  const old = new Date(Date.now() - 86_400_000);
  await utimes(foreign, old, old);
  const gc = await run(["gc", "--keep-runs", "0", "--keep-days", "0"]);
  assert.equal(gc.code, 1, gc.stdout + gc.stderr);
  assert.match(gc.stderr, /cannot remove \S+20200101-000000-000-abcdef/);
  assert.match(
    gc.stderr,
    /it belongs to another user \(uid 0\); run gc as the user who owns the store, or as root/,
  );
  assert.doesNotMatch(gc.stderr, /gave its owner full permission/);
});

test("a store shared with root: root is refused, the owner's refusals name what root made, and what cannot be read is not taken for empty", {
  skip: asNobody,
}, async () => {
  const { dir, storeDir, run } = await nobodysStore("shared-with-root");
  const planDir = await writePlan(join(dir, "plan"), {
    name: "shared",
    steps: { a: { script: 'do_install() { echo a > "$OUT/a"; }\n' } },
  });
  // Root's sandboxes could not enter the owner's closed folders, and the owner could not change what
  // root wrote: refused before anything is written.
  const asRoot = await rootstock(["--store", storeDir, "run", planDir]);
  assert.equal(asRoot.code, 1, asRoot.stderr);
  assert.match(
    asRoot.stderr,
    /the store \S+ belongs to nobody, and rootstock runs as root \[ERR_STORE_OTHER_OWNER\]/,
  );
  assert.deepEqual(await readdir(storeDir), []);
  assert.equal((await run(["run", planDir])).code, 0);
  // A folder whose entries go into builds, made by another user (daemon here), could be changed by
  // them: refused for the owner too, naming it. Root's is trusted: root can change anything anyway.
  await chown(join(storeDir, "outputs"), 1, 1);
  const swapped = await run(["run", planDir]);
  assert.equal(swapped.code, 1, swapped.stdout);
  assert.match(
    swapped.stderr,
    /the store's folder \S+\/outputs belongs to daemon, not to this user \[ERR_STORE_OTHER_OWNER\]/,
  );
  await chown(join(storeDir, "outputs"), 0, 0);
  assert.doesNotMatch((await run(["run", planDir])).stderr, /ERR_STORE_OTHER_OWNER/);
  await chown(join(storeDir, "outputs"), 65534, 65534);
  // A folder root made there (by hand, or a rootstock from before the refusal) is named with its owner.
  await chown(join(storeDir, "runs"), 0, 0);
  const asOwner = await run(["run", planDir]);
  assert.equal(asOwner.code, 1, asOwner.stdout);
  assert.match(
    asOwner.stderr,
    /\[ERR_STORE_UNWRITABLE\]\n {2}hint: \S+\/runs belongs to root, not to nobody/,
  );
  // A user whose home folder does not exist (a service user's HOME=/nonexistent) has no default store:
  // said so, not "have root hand the store to you" for a store that is not there.
  for (const command of ["run", "fetch"]) {
    const homeless = await rootstock([command, planDir], {
      command: [
        setpriv as string,
        `--reuid=${NOBODY}`,
        `--regid=${NOBODY}`,
        "--clear-groups",
        process.execPath,
      ],
      env: { HOME: "/nonexistent", ROOTSTOCK_STORE: "", XDG_CACHE_HOME: "" },
    });
    assert.equal(homeless.code, 1, homeless.stderr);
    assert.match(
      homeless.stderr,
      /hint: the store does not exist, and \/ ?, where it would be made, belongs to root \(it is under your home folder \/nonexistent, which does not exist\): choose a store you can make with --store DIR/,
    );
    assert.doesNotMatch(homeless.stderr, /chown/);
  }

  // doctor --install as a user who may not install: said so, not silently ignored. The package is
  // one apt knows (its index is there once apt-get update ran) and no test machine needs.
  if (
    spawnSync("dpkg-query", ["-W", "cowsay"]).status !== 0 &&
    spawnSync("apt-cache", ["show", "cowsay"]).status === 0
  ) {
    const missing = await writePlan(join(dir, "missing-package"), {
      name: "missing-package",
      toml: '[host]\ntools = ["sh"]\npackages = ["cowsay"]\n',
      steps: { a: { script: 'do_install() { echo a > "$OUT/a"; }\n' } },
    });
    const doctor = await run(["doctor", missing, "--install"]);
    assert.equal(doctor.code, 1, doctor.stderr);
    assert.match(doctor.stdout, /doctor: --install needs root; nothing was installed/);
  }

  // Root's runs folder closed to others: refused, not "no runs yet", and gc keeps everything.
  await chmod(join(storeDir, "runs"), 0o700);
  for (const args of [["runs"], ["gc", "--keep-runs", "0", "--keep-days", "0"]]) {
    const listed = await run(args);
    assert.equal(listed.code, 1, listed.stdout);
    assert.match(listed.stderr, /cannot read \S+\/runs: permission denied \[ERR_PATH_UNREADABLE\]/);
  }
  assert.equal((await readdir(join(storeDir, "outputs"))).length, 1);
  // The whole store closed to its user.
  await chown(storeDir, 0, 0);
  await chmod(storeDir, 0o700);
  const closed = await run(["runs"]);
  assert.equal(closed.code, 1, closed.stdout);
  assert.match(closed.stderr, /cannot read the store \S+: permission denied \[ERR_STORE_UNREADABLE\]/);
  assert.doesNotMatch(closed.stderr, STACK_LINE);
});

test("an output with unreadable folders and files is committed whole, with the modes the step gave", {
  skip: asNobody,
}, async () => {
  const { dir, storeDir, run } = await nobodysStore("unreadable");
  const planDir = await writePlan(join(dir, "plan"), {
    name: "unreadable",
    steps: {
      shut: {
        script:
          'do_install() { mkdir "$OUT/rodir"; echo f > "$OUT/rodir/f"; chmod 000 "$OUT/rodir"; echo s > "$OUT/shadow"; chmod 000 "$OUT/shadow"; chmod 000 "$OUT"; }\n',
      },
    },
  });
  const result = await run(["run", planDir]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const key = (await resolve(planDir)).byName.get("shut")?.key as string;
  const manifest = JSON.parse(
    await readFile(join(storeDir, "outputs", key, "manifest.json"), "utf8"),
  ) as Manifest;
  assert.equal(manifest.root.mode, 0);
  assert.deepEqual(
    manifest.entries.map((entry) => [entry.path, entry.mode, entry.sha256 !== undefined]),
    [
      ["rodir", 0, false],
      ["rodir/f", 0o644, true],
      ["shadow", 0, true],
    ],
  );
  assert.deepEqual(await readdir(join(storeDir, "tmp")), []);
});

test("a commit that fails leaves nothing in the store and the output where rootstock shell finds it", {
  skip: asNobody,
}, async () => {
  const { dir, storeDir, run } = await nobodysStore("refused");
  const planDir = await writePlan(join(dir, "plan"), {
    name: "refused",
    steps: {
      refused: {
        script:
          'do_install() { mkdir "$OUT/rodir"; touch "$OUT/rodir/f"; chmod 000 "$OUT/rodir"; echo x > "$OUT/new\nline"; chmod 555 "$OUT"; }\n',
      },
    },
  });
  const result = await run(["run", planDir]);
  assert.equal(result.code, 1, result.stderr);
  assert.match(
    result.stdout,
    /✗ refused failed: output file name "new\\nline" holds a line break, which the store refuses/,
  );
  assert.doesNotMatch(result.stdout, /UTF-8/);
  assert.deepEqual(await readdir(join(storeDir, "tmp")), []);
  assert.deepEqual(await readdir(join(storeDir, "outputs")), []);

  const shell = await run(["shell", planDir, "refused", "-c", "ls /out"]);
  assert.equal(shell.code, 0, shell.stderr);
  assert.match(shell.stdout, /^rodir$/m);
  assert.match(shell.stdout, /^line$/m);
});

test("an entry holding a setuid or setgid file, or one others may write, is closed to other users; its modes stay", async () => {
  const planDir = await writePlan(join(bench.dir, "setuid-plan"), {
    name: "setuid",
    steps: {
      plain: { script: 'do_install() { echo hi > "$OUT/hi"; }\n' },
      // A root filesystem's /tmp: another user must not put files into it (and so into its images).
      sticky: { script: 'do_install() { mkdir "$OUT/tmp"; chmod 1777 "$OUT/tmp"; }\n' },
      shared: { script: 'do_install() { echo x > "$OUT/f"; chmod 0664 "$OUT/f"; }\n' },
      setuid: {
        script:
          'do_install() { cp /bin/true "$OUT/su"; chmod 4755 "$OUT/su"; cp /bin/true "$OUT/wall"; chmod 2755 "$OUT/wall"; }\n',
      },
      broken: {
        toml: 'version = "1"\ndeps = ["setuid"]\nroot = "deps"\n',
        script: "do_compile() { false; }\n",
      },
    },
  });
  const events: RootstockEvent[] = [];
  const result = await runPlan(await resolve(planDir), {
    storeDir: bench.storeDir,
    keepGoing: true,
    emit: (event) => events.push(event),
  });
  assert.deepEqual(result.failed, ["broken"]);
  const entry = (name: string) => join(bench.storeDir, "outputs", result.outputs.get(name)?.key as string);
  assert.equal((await stat(entry("setuid"))).mode & 0o777, 0o700);
  assert.notEqual((await stat(entry("plain"))).mode & 0o777, 0o700, "an entry without them stays open");
  assert.equal((await stat(entry("sticky"))).mode & 0o777, 0o700);
  assert.equal((await stat(join(entry("sticky"), "out", "tmp"))).mode & 0o7777, 0o1777);
  assert.equal((await stat(entry("shared"))).mode & 0o777, 0o700);
  // One an older rootstock left open is closed when an image next takes from it.
  await chmod(entry("sticky"), 0o755);
  await buildImage(
    {
      name: "from-open",
      kind: "initramfs",
      compression: "gzip",
      layers: [{ dir: join(entry("sticky"), "out"), manifest: join(entry("sticky"), "manifest.json") }],
    },
    { storeDir: bench.storeDir },
  );
  assert.equal((await stat(entry("sticky"))).mode & 0o777, 0o700);
  assert.equal((await stat(join(entry("setuid"), "out", "su"))).mode & 0o7777, 0o4755);
  assert.equal((await stat(join(entry("setuid"), "out", "wall"))).mode & 0o7777, 0o2755);
  // The failed step's root holds hard links to them: its run's build folders are closed too.
  assert.equal((await stat(join(bench.storeDir, "work", result.runId))).mode & 0o777, 0o700);
});

/**
 * Runs `work` with a small tmpfs of its own, unmounted after; without a mount (a container that allows
 * none) there is nothing to learn, and `work` does not run.
 */
async function withSmallDisk(
  name: string,
  size: string,
  work: (mountPoint: string) => Promise<void>,
  flags = "",
) {
  const mountPoint = join(bench.dir, name);
  await mkdir(mountPoint, { recursive: true });
  if (spawnSync("mount", ["-t", "tmpfs", "-o", `size=${size}${flags}`, "tmpfs", mountPoint]).status !== 0)
    return;
  try {
    await work(mountPoint);
  } finally {
    spawnSync("umount", ["-l", mountPoint]);
  }
}

test("a store on a noexec filesystem is refused before anything is fetched or built", {
  skip: isRoot ? false : "needs root to mount a tmpfs",
}, async () => {
  await withSmallDisk(
    "noexec-disk",
    "8m",
    async (mountPoint) => {
      const planDir = await writePlan(join(bench.dir, "noexec"), {
        name: "noexec",
        steps: { a: { script: 'do_install() { echo a > "$OUT/a"; }\n' } },
      });
      const run = await rootstock(["--store", join(mountPoint, "store"), "run", planDir]);
      assert.equal(run.code, 1, `${run.stdout}\n${run.stderr}`);
      assert.match(
        run.stderr,
        /is on a filesystem mounted noexec, and steps run programs from it \(their build folders and their deps. outputs\) \[ERR_STORE_NOEXEC\]/,
      );
      assert.match(run.stderr, /hint: use a store on another filesystem/);
      assert.deepEqual(await readdir(join(mountPoint, "store", "outputs")).catch(() => []), []);
    },
    ",noexec",
  );
});

test("a store whose tmp/ is on another filesystem names it when an output cannot be renamed in", {
  skip: existsSync("/dev/shm") ? false : "no /dev/shm (a tmpfs) on this host",
}, async () => {
  const storeDir = join(bench.dir, "xdev-store");
  const elsewhere = await mkdtemp("/dev/shm/rootstock-xdev-");
  try {
    await mkdir(storeDir, { recursive: true });
    await symlink(elsewhere, join(storeDir, "tmp"));
    const planDir = await writePlan(join(bench.dir, "xdev"), {
      name: "xdev",
      steps: { a: { script: 'do_install() { echo a > "$OUT/a"; }\n' } },
    });
    const run = await rootstock(["--store", storeDir, "run", planDir]);
    assert.equal(run.code, 1, `${run.stdout}\n${run.stderr}`);
    assert.match(
      `${run.stdout}\n${run.stderr}`,
      /\/work\/\S+ and \S+\/xdev-store\/tmp are on different file systems, so an output cannot be renamed into the store/,
    );
    assert.match(
      `${run.stdout}\n${run.stderr}`,
      /\S+\/xdev-store\/tmp is on another \(a mount, or a link to elsewhere\)/,
    );
    // And the other way round: work/ elsewhere, tmp/ the store's own.
    const workStore = join(bench.dir, "xdev-work-store");
    await mkdir(workStore, { recursive: true });
    await symlink(elsewhere, join(workStore, "work"));
    const other = await rootstock(["--store", workStore, "run", planDir]);
    assert.equal(other.code, 1, `${other.stdout}\n${other.stderr}`);
    assert.match(
      `${other.stdout}\n${other.stderr}`,
      /\/work\/\S+ is on another \(a mount, or a link to elsewhere\)/,
    );
    // outputs/ elsewhere: the second rename, from tmp/ into outputs/, is the one that crosses.
    const outputsStore = join(bench.dir, "xdev-outputs-store");
    await mkdir(join(elsewhere, "outputs"), { recursive: true });
    await mkdir(outputsStore, { recursive: true });
    await symlink(join(elsewhere, "outputs"), join(outputsStore, "outputs"));
    const third = await rootstock(["--store", outputsStore, "run", planDir]);
    assert.equal(third.code, 1, `${third.stdout}\n${third.stderr}`);
    const said = `${third.stdout}\n${third.stderr}`;
    assert.match(said, /xdev-outputs-store\/outputs is on another \(a mount, or a link to elsewhere\)/);
    assert.doesNotMatch(said, /internal error/);
  } finally {
    await rm(elsewhere, { recursive: true, force: true });
  }
});

test("a full disk is the store's state, not a bug: a clear refusal, no half-written record, and gc frees it", {
  skip: isRoot ? false : "needs root to mount a small tmpfs",
}, async () => {
  await withSmallDisk("small-disk", "2m", async (mountPoint) => {
    const storeDir = join(mountPoint, "store");
    const planDir = await writePlan(join(bench.dir, "fills-disk"), {
      name: "fills-disk",
      steps: {
        small: { script: 'do_install() { echo a > "$OUT/a"; }\n' },
        fill: {
          toml: 'version = "1"\ndeps = ["small"]\n',
          script: 'do_install() { cat /dev/zero > "$OUT/fill" 2>/dev/null || true; }\n',
        },
      },
    });
    const run = await rootstock(["--store", storeDir, "run", planDir]);
    assert.equal(run.code, 1, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /✗ fill failed: cannot write the store \S+: no space is left on the device/);
    assert.match(
      run.stderr,
      /\[ERR_STORE_UNWRITABLE\]\n {2}hint: free space: `rootstock gc --keep-runs 0 --keep-days 0`/,
    );
    assert.doesNotMatch(`${run.stdout}${run.stderr}`, /internal error/);
    assert.doesNotMatch(run.stderr, STACK_LINE);
    const runs = await readdir(join(storeDir, "runs"));
    for (const name of runs) {
      const files = await readdir(join(storeDir, "runs", name));
      assert.deepEqual(
        files.filter((file) => /\.json\./.test(file)),
        [],
        "no half-written record beside run.json",
      );
    }
    const gc = await rootstock(["--store", storeDir, "gc", "--keep-runs", "0", "--keep-days", "0"]);
    assert.equal(gc.code, 0, gc.stderr);
    assert.match(gc.stdout, /removed work/);
    const again = await rootstock(["--store", storeDir, "run", planDir, "small"]);
    assert.equal(again.code, 0, again.stderr);
  });
});

test("a store on a read-only disk is refused as such, though Node's mkdir says ENOENT there", {
  skip: isRoot ? false : "needs root to mount a read-only tmpfs",
}, async () => {
  await withSmallDisk("read-only-disk", "1m", async (mountPoint) => {
    await mkdir(join(mountPoint, "store"));
    spawnSync("mount", ["-o", "remount,ro", mountPoint]);
    const planDir = await writePlan(join(bench.dir, "on-read-only"), {
      name: "on-read-only",
      steps: { a: { script: 'do_install() { echo a > "$OUT/a"; }\n' } },
    });
    const run = await rootstock(["--store", join(mountPoint, "store"), "run", planDir]);
    assert.equal(run.code, 1, run.stderr);
    assert.match(
      run.stderr,
      /cannot write the store \S+: the file system is read-only .*\[ERR_STORE_UNWRITABLE\]/,
    );
    assert.doesNotMatch(run.stderr, STACK_LINE);
    const fetched = await rootstock(["--store", join(mountPoint, "store"), "fetch", planDir]);
    assert.match(fetched.stderr, /the file system is read-only .*\[ERR_STORE_UNWRITABLE\]/);
  });
});

test("an output path too long under the store is refused at commit, the cause first; its folder then goes", async () => {
  const planDir = await writePlan(join(bench.dir, "too-deep"), {
    name: "too-deep",
    steps: {
      deep: {
        script:
          'do_install() { cd "$OUT" && s=$(printf "%0199d" 0) && i=0 && while [ $i -lt 20 ]; do mkdir "$s" && cd "$s" || exit 1; i=$((i+1)); done && echo deep > f; }\n',
      },
    },
  });
  const events: RootstockEvent[] = [];
  const result = await runPlan(await resolve(planDir), {
    storeDir: bench.storeDir,
    emit: (e) => events.push(e),
  });
  assert.deepEqual(result.failed, ["deep"]);
  const failed = events.find((event) => event.type === "step:failed");
  assert.match(
    failed?.type === "step:failed" ? failed.reason : "",
    /^step "deep" left a path in its output that is too long for Linux under the store \(ENAMETOOLONG\): 0{80}…/,
  );
});

test("a tree deeper than Linux takes as one path is removed all the same", async () => {
  const deep = join(bench.dir, "deep-tree");
  await mkdir(deep, { recursive: true });
  // 27 folders of 199 bytes, made as two trees of 15 and 12 and one moved into the other: no one path
  // names the file at the bottom (a shell cannot even cd there).
  const made = spawnSync("sh", [
    "-c",
    [
      'cd "$1" && s=$(printf "%0199d" 0) && p=top && mkdir -p top b',
      'i=0; while [ $i -lt 15 ]; do p="$p/$s"; i=$((i+1)); done; mkdir -p "$p" || exit 1',
      'q=b; i=0; while [ $i -lt 12 ]; do q="$q/$s"; i=$((i+1)); done; mkdir -p "$q" && echo deep > "$q/f" || exit 1',
      'mv b "$p/b"',
    ].join("\n"),
    "sh",
    deep,
  ]);
  assert.equal(made.status, 0, made.stderr?.toString());
  await removeTree(deep);
  assert.equal(existsSync(deep), false);
});

test("a tree root cannot remove says the true cause: an immutable file, EPERM, not a folder's scandir", {
  skip: process.getuid?.() === 0 ? false : "needs root to mark a file immutable",
}, async (t) => {
  const tree = join(bench.dir, "immutable");
  await mkdir(join(tree, "sub"), { recursive: true });
  await writeFile(join(tree, "sub", "kept"), "x\n");
  if (spawnSync("chattr", ["+i", join(tree, "sub", "kept")]).status !== 0) {
    t.skip("this file system takes no immutable flag");
    return;
  }
  try {
    await assert.rejects(removeTree(tree), (error: unknown) => {
      assert.match((error as Error).message, /EPERM: operation not permitted, unlink .*kept/);
      assert.match((error as { hint?: string }).hint ?? "", /immutable/);
      return true;
    });
  } finally {
    spawnSync("chattr", ["-i", join(tree, "sub", "kept")]);
  }
});

test("an image writer that fills the store is a full store, with the gc hint, not a tool that failed", {
  skip: isRoot ? false : "needs root to mount a tmpfs",
}, async () => {
  await withSmallDisk("image-full-disk", "40m", async (mountPoint) => {
    const store = join(mountPoint, "store");
    const planDir = await writePlan(join(bench.dir, "image-full"), {
      name: "image-full",
      toml: '[host]\ntools = ["sh", "head"]\n[images.big]\nkind = "initramfs"\ncontents = ["blob"]\ncompression = "none"\n[images.disk]\nkind = "ext4"\ncontents = ["blob"]\nsize = "12M"\n',
      steps: { blob: { script: 'do_install() { head -c 6291456 /dev/urandom > "$OUT/blob"; }\n' } },
    });
    assert.equal((await rootstock(["--store", store, "run", planDir])).code, 0);
    // Room to stage the image's contents, not to write its archive beside them.
    const free = Number(
      spawnSync("df", ["-k", "--output=avail", mountPoint], { encoding: "utf8" }).stdout.split("\n")[1],
    );
    await writeFile(join(mountPoint, "filler"), Buffer.alloc((free - 9 * 1024) * 1024));
    // mke2fs, whose "No space left" could also mean an image too small, and cpio.
    for (const name of ["disk", "big"]) {
      const image = await rootstock(["--store", store, "image", planDir, name]);
      assert.equal(image.code, 1, image.stderr);
      assert.match(
        image.stderr,
        /\[ERR_STORE_UNWRITABLE\]\n {2}hint: free space: `rootstock gc --keep-runs 0 --keep-days 0`/,
        name,
      );
      assert.doesNotMatch(image.stderr, /ERR_IMAGE_TOOL_FAILED|ERR_IMAGE_TOO_SMALL/);
    }
  });
});

test("images built as a user carry the modes the step gave, the same bytes as root's, under the same key", {
  skip: asNobody,
}, async () => {
  const { dir, run } = await nobodysStore("closed-modes");
  const planDir = await writePlan(join(dir, "plan"), {
    name: "modes",
    toml: '[host]\ntools = ["sh"]\n[images.sq]\nkind = "squashfs"\ncontents = ["m"]\n[images.disk]\nkind = "ext4"\ncontents = ["m"]\n[images.ird]\nkind = "initramfs"\ncontents = ["m"]\n',
    steps: {
      m: {
        script:
          'do_install() { cd "$OUT"; echo a > f0000; chmod 0000 f0000; echo c > f0111; chmod 0111 f0111; mkdir d0000 d0311; echo x > d0000/in; echo y > d0311/in; chmod 0000 d0000; chmod 0311 d0311; }\n',
      },
    },
  });
  await chown(join(dir, "plan"), NOBODY, NOBODY);
  const asUser = await run(["image", planDir]);
  assert.equal(asUser.code, 0, asUser.stdout + asUser.stderr);
  const rootStore = join(dir, "root-store");
  const asRoot = await rootstock(["--store", rootStore, "image", planDir]);
  assert.equal(asRoot.code, 0, asRoot.stdout + asRoot.stderr);
  // Each image's key (its folder in the store), file and the sha256 of its bytes.
  const images = (text: string) =>
    [...text.matchAll(/(\S+\/images\/([0-9a-f]{64})\/(image\.\S+))$/gm)]
      .map(([, path, key, file]) => [
        key,
        file,
        createHash("sha256")
          .update(readFileSync(path as string))
          .digest("hex"),
      ])
      .sort();
  assert.equal(images(asUser.stdout).length, 3, asUser.stdout);
  assert.deepEqual(images(asUser.stdout), images(asRoot.stdout));
});
