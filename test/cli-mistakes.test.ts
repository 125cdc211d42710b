/**
 * Mistakes found by using rootstock as a new user would: each gets an error that names what is wrong,
 * says what was expected and how to go on, with no stack trace.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, existsSync, openSync } from "node:fs";
import {
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { runPlan } from "../src/build/run-plan.ts";
import { RootstockErrors } from "../src/errors.ts";
import { openPlan } from "../src/plan/open.ts";
import { listRuns } from "../src/report/list-runs.ts";
import { fileSystemRefusal } from "../src/store/fs-refusal.ts";
import { shellWord } from "../src/units.ts";
import { runCli, STACK_LINE } from "./helpers/cli.ts";
import { processesMentioning, writePlan } from "./helpers/fixture-plan.ts";
import { finished, ROOTSTOCK, startRootstock, untilOutput } from "./helpers/rootstock-process.ts";

let work: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "rootstock-mistakes-"));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

describe("the store", () => {
  test("a store given as a file, or under one, or in /proc, is refused before anything is written", async () => {
    const file = join(work, "store-file");
    await writeFile(file, "not a folder\n");
    for (const store of [file, join(file, "below")]) {
      const { code, stderr } = await runCli(["--store", store, "run", "plans/example"]);
      assert.equal(code, 1, stderr);
      assert.ok(
        stderr.includes(`--store ${store}: ${file} is a file, not a folder [ERR_CLI_BAD_FOLDER]`),
        stderr,
      );
      assert.doesNotMatch(stderr, STACK_LINE);
    }
    await symlink("nowhere/x", join(work, "dangling-store"));
    const dangling = await runCli(["--store", join(work, "dangling-store"), "run", "plans/example"]);
    assert.match(
      dangling.stderr,
      /dangling-store is a link to nowhere\/x, which does not exist \[ERR_CLI_BAD_FOLDER\]/,
    );
    assert.match((await runCli(["--store", "", "runs"])).stderr, /--store is empty \[ERR_CLI_BAD_FOLDER\]/);
    // Node's recursive mkdir never returns under /proc: refused, not a hang.
    const proc = await runCli(["--store", "/proc/no-store-here", "run", "plans/example"]);
    assert.match(proc.stderr, /\/proc belongs to the kernel .* \[ERR_CLI_BAD_FOLDER\]/);
  });

  test("a store moved elsewhere keeps its logs and the build folders of failed steps", async () => {
    const dir = await writePlan(join(work, "moved"), {
      steps: {
        good: { script: 'do_install() { echo made > "$OUT/x"; echo built-good; }\n' },
        bad: { script: "do_install() { echo about-to-fail; exit 1; }\n" },
      },
    });
    const before = join(work, "store-before-move");
    const built = await runCli(["--store", before, "run", "-k", dir]);
    assert.equal(built.code, 1, built.stderr);
    const after = join(work, "store-after-move");
    await rename(before, after);
    const log = await runCli(["--store", after, "log", dir, "good"]);
    assert.equal(log.code, 0, log.stderr);
    assert.match(log.stdout, /built-good/);
    const path = await runCli(["--store", after, "log", "--path", dir, "bad"]);
    assert.ok(path.stdout.startsWith(`${after}/`), path.stdout);
    const shell = await runCli(["--store", after, "shell", dir, "bad", "-c", "pwd"]);
    assert.equal(shell.code, 0, shell.stderr);
    // A saved sandbox damaged into another shape is said to be, not run.
    const [runWork] = await readdir(join(after, "work"));
    const saved = join(after, "work", runWork as string, "bad", "sandbox.json");
    const kept = await readFile(saved, "utf8");
    await writeFile(saved, "null");
    const damagedShell = await runCli(["--store", after, "shell", dir, "bad", "-c", "pwd"]);
    assert.equal(damagedShell.code, 1);
    assert.match(
      damagedShell.stderr,
      /the saved sandbox of step "bad"'s failed build .* is damaged \[ERR_SHELL_NO_BUILD\]/,
    );
    await writeFile(saved, kept);
    // A record edited to lead out of the store is not followed.
    const record = join(after, "history", "test", "good.json");
    await writeFile(
      record,
      JSON.stringify({ ...JSON.parse(await readFile(record, "utf8")), log: "/etc/shadow" }),
    );
    const led = await runCli(["--store", after, "log", dir, "good"]);
    assert.equal(led.code, 1);
    assert.doesNotMatch(led.stdout, /root:/);
    assert.match(led.stderr, /has no log recorded in this store/);
    const badRecord = join(after, "history", "test", "bad.json");
    await writeFile(
      badRecord,
      JSON.stringify({ ...JSON.parse(await readFile(badRecord, "utf8")), workDir: "/etc" }),
    );
    const outside = await runCli(["--store", after, "shell", dir, "bad", "-c", "pwd"]);
    assert.equal(outside.code, 1);
    assert.match(
      outside.stderr,
      /step "bad" failed \(run \S+\), but its record names no build folder inside this store/,
    );
  });

  test("the store's own files damaged into other shapes are rebuilt, not crashes or writes elsewhere", async () => {
    const dir = await writePlan(join(work, "damaged"), {
      steps: { a: { script: 'do_install() { echo a > "$OUT/a"; }\n' } },
    });
    // A plan changed in the last two seconds is not cached (its files' change times cannot be set back).
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const store = join(work, "damaged-store");
    assert.equal((await runCli(["--store", store, "run", dir])).code, 0);
    const [planCache] = await readdir(join(store, "cache", "plans"));
    const planFile = join(store, "cache", "plans", planCache as string);
    const good = JSON.parse(await readFile(planFile, "utf8"));
    const outside = join(work, "escaped");
    const damages: [string, unknown][] = [
      [join(store, "cache", "tools.json"), null],
      [join(store, "cache", "tools.json"), "x"],
      [join(store, "cache", "tools.json"), { "/usr/bin/sh": { signature: "anything" } }],
      [planFile, { ...good, graphs: null }],
      [planFile, { ...good, plan: null }],
      [planFile, { ...good, plan: { ...good.plan, name: "../../escaped" } }],
      [planFile, { ...good, plan: { ...good.plan, name: null } }],
      [planFile, { ...good, graphs: [{ ...good.graphs[0], steps: null }] }],
      [
        planFile,
        {
          ...good,
          graphs: [
            { ...good.graphs[0], steps: [{ ...good.graphs[0].steps[0], key: `../../../${outside}` }] },
          ],
        },
      ],
    ];
    for (const [file, damage] of damages) {
      await writeFile(file, JSON.stringify(damage));
      const run = await runCli(["--store", store, "run", dir]);
      assert.equal(run.code, 0, `${JSON.stringify(damage).slice(0, 80)}:\n${run.stderr}`);
      assert.match(run.stdout, /ok: 0 built, 1 cached/);
    }
    assert.equal(await stat(outside).catch(() => undefined), undefined, "nothing written outside the store");
    // An entry whose output is gone is built again, not taken as cached.
    const [entry] = await readdir(join(store, "outputs"));
    await rm(join(store, "outputs", entry as string, "out"), { recursive: true, force: true });
    const rebuilt = await runCli(["--store", store, "run", dir]);
    assert.match(rebuilt.stdout, /ok: 1 built, 0 cached/);
    assert.equal(await readFile(join(store, "outputs", entry as string, "out", "a"), "utf8"), "a\n");
    const [runId] = await readdir(join(store, "runs"));
    for (const record of [null, {}]) {
      await writeFile(join(store, "runs", runId as string, "run.json"), JSON.stringify(record));
      const gc = await runCli(["--store", store, "gc", "--dry-run"]);
      assert.equal(gc.code, 0, gc.stderr);
      assert.equal((await runCli(["--store", store, "runs"])).code, 0);
    }
    // One damaged journal hides no other run, and its report says what it can.
    const journal = join(store, "runs", runId as string, "journal.jsonl");
    const lines = (await readFile(journal, "utf8")).trim().split("\n");
    const damaged = lines.map((line) => {
      const event = JSON.parse(line);
      if (event.type === "run:start") return JSON.stringify({ ...event, steps: null });
      if (event.type === "run:context") return JSON.stringify({ ...event, context: "x" });
      return line;
    });
    await writeFile(journal, `null\n${damaged.join("\n")}\n{"type":"run:end","time":"late"}\n`);
    const runs = await runCli(["--store", store, "runs"]);
    assert.equal(runs.code, 0, runs.stderr);
    assert.ok(runs.stdout.split("\n").filter((line) => line.includes("test")).length >= 2, runs.stdout);
    const report = await runCli(["--store", store, "report", runId as string]);
    assert.doesNotMatch(report.stderr, STACK_LINE);
    assert.doesNotMatch(report.stderr, /internal error/);
    // An emptied journal is damaged, not a run of nothing: the reports there are left alone.
    const markdown = join(store, "runs", runId as string, "report.md");
    const before = await readFile(markdown, "utf8");
    await writeFile(journal, "");
    const empty = await runCli(["--store", store, "report", runId as string]);
    assert.equal(empty.code, 1);
    assert.match(empty.stderr, /the journal of \S+ holds no events \[ERR_RUN_JOURNAL_DAMAGED\]/);
    assert.equal(await readFile(markdown, "utf8"), before);
    await rm(journal);
    const gone = await runCli(["--store", store, "report", runId as string]);
    assert.match(gone.stderr, /has no run journal \(journal\.jsonl\) \[ERR_RUN_NO_JOURNAL\]/);
  });

  test("report leaves a newer rootstock's run alone, and says what an older one's journal did not record", async () => {
    const dir = await writePlan(join(work, "journal-formats"), {
      name: "formats",
      steps: { s: { script: 'do_install() { echo x > "$OUT/x"; }\n' } },
    });
    const store = join(work, "journal-formats-store");
    const run = await runCli(["--store", store, "run", "-j", "1", dir]);
    assert.equal(run.code, 0, run.stderr);
    const runDir = /report: (.*)\/report\.html/.exec(run.stdout)?.[1] as string;
    const journal = join(runDir, "journal.jsonl");
    const markdown = join(runDir, "report.md");
    const written = await readFile(journal, "utf8");
    const withContext = (change: (context: Record<string, unknown>) => void) =>
      written
        .trim()
        .split("\n")
        .map((line) => {
          const event = JSON.parse(line);
          if (event.type === "run:context") change(event.context);
          return JSON.stringify(event);
        })
        .join("\n");
    assert.match(await readFile(markdown, "utf8"), /rootstock run --jobs 1 /);

    await writeFile(
      journal,
      withContext((context) => Object.assign(context, { journal: 99 })),
    );
    const before = await readFile(markdown, "utf8");
    const newer = await runCli(["--store", store, "report", runDir]);
    assert.equal(newer.code, 1);
    assert.match(
      newer.stderr,
      /written by a newer rootstock \(journal format 99; this one reads up to \d+\) \[ERR_RUN_JOURNAL_NEWER\]/,
    );
    assert.equal(await readFile(markdown, "utf8"), before);

    // An older rootstock's journal: no format, no options kept.
    await writeFile(
      journal,
      withContext((context) => {
        delete context.journal;
        delete context.options;
      }),
    );
    const older = await runCli(["--store", store, "report", runDir]);
    assert.equal(older.code, 0, older.stderr);
    assert.match(
      await readFile(markdown, "utf8"),
      /Command \(run \S+, as far as the rootstock that made it recorded it: options and images named may be missing\)/,
    );
    // A journal damaged by other hands (a format that is no number, a context of another shape, a line
    // that is no event but the last) is refused: reports made from what is left would state falsehoods
    // over the true ones, which are left as they are.
    const kept = await readFile(markdown, "utf8");
    const damagedJournals = [
      withContext((context) => Object.assign(context, { journal: "3" })),
      ...[null, "x", {}].map((damaged) =>
        written
          .trim()
          .split("\n")
          .map((line) => {
            const event = JSON.parse(line);
            if (event.type === "run:context") event.context = damaged;
            return JSON.stringify(event);
          })
          .join("\n"),
      ),
      written.replace(/^.*$/m, "xx"),
    ];
    for (const text of damagedJournals) {
      await writeFile(journal, text);
      const report = await runCli(["--store", store, "report", runDir]);
      assert.equal(report.code, 1, report.stderr);
      assert.match(
        report.stderr,
        /the journal of \S+ is damaged: .*\[ERR_RUN_JOURNAL_DAMAGED\]\n {2}hint: its reports are left as they are/,
      );
      assert.doesNotMatch(report.stderr, STACK_LINE);
      assert.equal(await readFile(markdown, "utf8"), kept);
    }
    // A last line torn by a kill is no damage: the run is reported without it.
    await writeFile(journal, `${written.trim()}\n{"type":"step:st`);
    assert.equal((await runCli(["--store", store, "report", runDir])).code, 0);
  });

  test("a step's history edited to name other folders is not followed into them", async () => {
    const dir = await writePlan(join(work, "history-edited"), {
      steps: {
        a: { script: 'do_install() { echo a > "$OUT/a"; }\n' },
        b: { toml: 'version = "1"\ndeps = ["a"]\n', script: 'do_install() { echo b > "$OUT/b"; }\n' },
      },
    });
    const store = join(work, "history-edited-store");
    assert.equal((await runCli(["--store", store, "run", dir])).code, 0);
    const keys = JSON.parse((await runCli(["--store", store, "plan", "show", "--json", dir])).stdout) as {
      name: string;
      key: string;
    }[];
    const keyOf = (name: string) => keys.find((step) => step.name === name)?.key as string;
    // b's record names a's entry as its failed build folder, and a run id that climbs out of work/.
    const victim = join(work, "history-victim");
    await mkdir(victim);
    const record = join(store, "history", "test", "b.json");
    await writeFile(
      record,
      JSON.stringify({
        ...JSON.parse(await readFile(record, "utf8")),
        status: "failed",
        workDir: `outputs/${keyOf("a")}/out`,
        runId: `../../${basename(victim)}`,
      }),
    );
    await rm(join(store, "outputs", keyOf("b")), { recursive: true, force: true });
    const again = await runCli(["--store", store, "run", dir]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(
      await readFile(join(store, "outputs", keyOf("a"), "out", "a"), "utf8"),
      "a\n",
      "a's entry is whole",
    );
    assert.ok(await stat(victim), "nothing outside the store was removed");
  });

  test("a store whose inside cannot be written is ERR_STORE_UNWRITABLE, not a crash", async () => {
    const store = join(work, "store-with-a-file");
    await mkdir(store);
    await writeFile(join(store, "runs"), "not a folder\n");
    const { code, stderr } = await runCli(["--store", store, "run", "plans/example"]);
    assert.equal(code, 1, stderr);
    assert.match(
      stderr,
      new RegExp(
        `cannot write the store ${store}: (a part of its path is not a folder|a file is where a folder must be)`,
      ),
    );
    assert.match(stderr, /\[ERR_STORE_UNWRITABLE\]\n {2}hint: the store must be a folder you can write/);
    assert.doesNotMatch(stderr, STACK_LINE);
    assert.doesNotMatch(stderr, /internal error/);
  });

  test("a refusal inside the store is the store's; one elsewhere names the path; other errors stay bugs", () => {
    const refusal = (code: string, path: string) =>
      fileSystemRefusal(Object.assign(new Error(code), { code, path }), "/srv/store");
    assert.match(
      refusal("EACCES", "/srv/store/runs/r1")?.message ?? "",
      /permission denied \(at \/srv\/store\/runs\/r1\)/,
    );
    assert.match(refusal("ENOSPC", "/srv/store/tmp/x")?.hint ?? "", /rootstock gc/);
    assert.match(
      refusal("EROFS", "/srv/store")?.message ?? "",
      /store \/srv\/store: the file system is read-only$/,
    );
    assert.equal(refusal("EACCES", "/srv/store-other/x")?.code, "ERR_PATH_UNWRITABLE");
    assert.match(
      refusal("EROFS", "/mnt/out")?.message ?? "",
      /^cannot write \/mnt\/out: the file system is read-only$/,
    );
    assert.equal(refusal("ENOENT", "/srv/store/x"), undefined);
    assert.equal(fileSystemRefusal(new Error("no code"), "/srv/store"), undefined);
    // A file system without modes (FAT): the store's, said so, not an internal error.
    const noChmod = fileSystemRefusal(
      Object.assign(new Error("ENOSYS"), { code: "ENOSYS", syscall: "chmod", path: "/srv/store/tmp/x/out" }),
      "/srv/store",
    );
    assert.equal(noChmod?.code, "ERR_STORE_UNWRITABLE");
    assert.match(
      noChmod?.message ?? "",
      /the file system cannot do it \(chmod\) \(at \/srv\/store\/tmp\/x\/out\)/,
    );
    assert.match(noChmod?.hint ?? "", /Unix modes, owners and links \(ext4, xfs, btrfs, tmpfs; not FAT\)/);
    // A copy out of the store onto FAT (--out, a mirror): the destination cannot do it, not the store.
    const copiedOut = fileSystemRefusal(
      Object.assign(new Error("ENOSYS"), {
        code: "ENOSYS",
        syscall: "copyfile",
        path: "/srv/store/sources/sha256/abc",
        dest: "/media/stick/mirror/abc",
      }),
      "/srv/store",
    );
    assert.equal(copiedOut?.code, "ERR_PATH_UNWRITABLE");
    assert.match(
      copiedOut?.message ?? "",
      /^cannot write \/media\/stick\/mirror\/abc: the file system cannot do it \(copyfile\)$/,
    );
    // A program that may not be run is not a path that may not be written.
    const spawned = fileSystemRefusal(
      Object.assign(new Error("spawn bwrap EACCES"), {
        code: "EACCES",
        syscall: "spawn bwrap",
        path: "bwrap",
      }),
      "/srv/store",
    );
    assert.equal(spawned?.code, "ERR_PROGRAM_NOT_RUNNABLE");
    assert.equal(spawned?.message, "cannot run bwrap: permission denied");
    // A copy that fills a disk names its source as the path: the destination is what is full.
    const copy = Object.assign(new Error("ENOSPC"), {
      code: "ENOSPC",
      syscall: "copyfile",
      path: "/srv/store/netboot/k/system.squashfs",
      dest: "/mnt/out/system.squashfs",
    });
    assert.equal(fileSystemRefusal(copy, "/srv/store")?.code, "ERR_PATH_UNWRITABLE");
    assert.match(fileSystemRefusal(copy, "/srv/store")?.hint ?? "", /free space on that disk/);
    // A write to an open file names no path: a full disk is the store's.
    const full = fileSystemRefusal(
      Object.assign(new Error("ENOSPC"), { code: "ENOSPC", syscall: "write" }),
      "/s",
    );
    assert.equal(full?.code, "ERR_STORE_UNWRITABLE");
    assert.match(full?.headline ?? "", /^cannot write the store \/s: no space is left on the device$/);
    assert.match(full?.hint ?? "", /rootstock gc --keep-runs 0 --keep-days 0/);
    assert.equal(fileSystemRefusal(Object.assign(new Error("EACCES"), { code: "EACCES" }), "/s"), undefined);
    // Reading a plan file is not writing: the verb follows the system call.
    const unreadable = Object.assign(new Error("EACCES"), {
      code: "EACCES",
      path: "/p/steps/a/files/y",
      syscall: "open",
    });
    assert.match(
      fileSystemRefusal(unreadable, "/srv/store")?.headline ?? "",
      /^cannot open \/p\/steps\/a\/files\/y: permission denied$/,
    );
  });
});

describe("the plan folder", () => {
  test("a plan.toml given instead of its folder says so and names the folder", async () => {
    const { code, stderr } = await runCli(["plan", "show", "plans/example/plan.toml"]);
    assert.equal(code, 1);
    assert.match(stderr, /plans\/example\/plan\.toml is a file, not a plan folder \[ERR_PLAN_NOT_FOUND\]/);
    assert.match(stderr, /hint: give the folder that holds plan\.toml \(plans\/example\)/);
  });

  test("shell --set of a variant whose failed build another variant's build followed says so, not 'did not fail'", async () => {
    const dir = await writePlan(join(work, "shell-variant"), {
      toml: '[variables]\nFAIL = "0"\n[host]\ntools = ["sh"]\n',
      steps: {
        app: {
          toml: 'version = "1"\n[env]\nFAIL = "${FAIL}"\n',
          script: 'do_install() { [ "$FAIL" = 0 ] || exit 1; echo ok > "$OUT/ok"; }\n',
        },
      },
    });
    const store = join(work, "shell-variant-store");
    assert.equal((await runCli(["--store", store, "run", dir, "--set", "FAIL=1"])).code, 1);
    assert.equal((await runCli(["--store", store, "run", dir])).code, 0);
    const shell = await runCli(["--store", store, "shell", dir, "app", "--set", "FAIL=1", "-c", "true"]);
    assert.equal(shell.code, 1);
    assert.match(
      shell.stderr,
      /step "app" with these inputs has no failed build kept: its latest build \(run \S+\) had others \(env\.FAIL\) and succeeded \[ERR_SHELL_NO_BUILD\]/,
    );
    // A --set the plan cannot take would pick another build: refused, as run refuses it.
    for (const command of [
      ["shell", dir, "app", "--set", "FIAL=1", "-c", "true"],
      ["log", dir, "app", "--set", "FIAL=1"],
    ]) {
      const refused = await runCli(["--store", store, ...command]);
      assert.equal(refused.code, 1, refused.stdout);
      assert.match(
        refused.stderr,
        /--set FIAL: the plan has no variable "FIAL" \[ERR_PLAN_UNKNOWN_VARIABLE\]\n {4}hint: did you mean "FAIL"\?/,
      );
    }
    // Nor may a --set that turns the step off show another variant's build.
    const gated = await writePlan(join(work, "shell-variant-when"), {
      toml: "[variables]\nON = true\n",
      steps: { app: { toml: 'version = "1"\nwhen = "ON"\n', script: "do_install() { exit 3; }\n" } },
    });
    assert.equal((await runCli(["--store", store, "run", gated])).code, 1);
    for (const command of [
      ["shell", gated, "app", "--set", "ON=false", "-c", "true"],
      ["log", gated, "app", "--set", "ON=false"],
    ]) {
      const refused = await runCli(["--store", store, ...command]);
      assert.equal(refused.code, 1, refused.stdout);
      assert.match(refused.stderr, /step "app" is disabled by when = "ON" \[ERR_PLAN_DEP_DISABLED\]/);
    }
  });

  test("--test-timeout is a duration a timer can wait, or refused before anything runs", async () => {
    for (const [value, said] of [
      ["abc", "is no duration"],
      ["597h", "is longer than the 596h a timer can wait"],
    ]) {
      const result = await runCli(["test", "plans/example", "--test-timeout", value as string]);
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, new RegExp(`--test-timeout ${value} ${said} \\[ERR_CLI_BAD_DURATION\\]`));
    }
  });

  test("a step folder no stage lists gets one readable hint", async () => {
    const dir = await writePlan(join(work, "unlisted"), {
      stages: [["hello", "bash"]],
      steps: { helo: {}, bash: {}, bash5: {} },
    });
    await rm(join(dir, "steps", "hello"), { recursive: true, force: true });
    const { code, stderr } = await runCli(["plan", "show", dir]);
    assert.equal(code, 1);
    assert.match(
      stderr,
      /hint: did you mean "hello"\? Otherwise add "helo" to a stage's steps, or remove the folder\n/,
    );
    // A listed step that has its folder is no misspelling of another folder.
    assert.match(
      stderr,
      /steps\/bash5 is not listed in any stage \[ERR_PLAN_STEP_UNLISTED\]\n {4}hint: add "bash5"/,
    );
    // Nor is a listed step without a folder told to take another listed step's folder.
    const other = await writePlan(join(work, "unlisted-other"), {
      stages: [["bash", "bash5"]],
      steps: { bash5: {} },
    });
    await rm(join(other, "steps", "bash"), { recursive: true, force: true });
    const missing = await runCli(["plan", "show", other]);
    assert.match(
      missing.stderr,
      /step "bash" has no steps\/bash\/step\.toml \[ERR_PLAN_STEP_MISSING\]\n {4}hint: create /,
    );
  });

  test("a name with control characters reaches the terminal escaped, never as a sequence it acts on", async () => {
    const dir = await writePlan(join(work, "escape-name"), { steps: { a: {} } });
    await mkdir(join(dir, "steps", "x\u001b[31mred\u009b"));
    const { code, stderr } = await runCli(["plan", "show", dir]);
    assert.equal(code, 1);
    assert.match(stderr, /step folder "steps\/x\\u001b\[31mred\\u009b" is not listed in any stage/);
    assert.doesNotMatch(stderr, /[^\P{Cc}\n]/u);
  });

  test("rootstock image on a plan without images says so, instead of an empty run", async () => {
    const { code, stderr } = await runCli([
      "--store",
      join(work, "no-images-store"),
      "image",
      "plans/example",
    ]);
    assert.equal(code, 1);
    assert.match(stderr, /plan example declares no images \[ERR_IMAGE_NONE\]/);
  });

  test("a misspelt dependency is not told to depend on itself", async () => {
    const dir = await writePlan(join(work, "self"), { steps: { a: {}, ab: { toml: 'deps = ["abc"]\n' } } });
    const { code, stderr } = await runCli(["plan", "show", dir]);
    assert.equal(code, 1);
    assert.match(stderr, /depends on "abc", which is not a step of this plan/);
    assert.doesNotMatch(stderr, /did you mean "ab"/);
  });
});

describe("the host", () => {
  test("a step to build that declares a tool the host lacks is refused before anything runs", async () => {
    const dir = await writePlan(join(work, "missing-tool"), {
      toml: '[host]\ntools = ["sh", "no-such-tool-here"]\n',
      steps: {
        a: {
          toml: 'version = "1"\ntools = ["nor-this-one"]\n',
          script: 'do_install() { echo hi > "$OUT/hi"; }\n',
        },
      },
    });
    const store = join(work, "missing-tool-store");
    const { code, stderr } = await runCli(["--store", store, "run", dir]);
    assert.equal(code, 1, stderr);
    // Found after the plan was loaded, yet named by line like the loader's own errors.
    const planLine = lineWith(await readFile(join(dir, "plan.toml"), "utf8"), /^tools = /);
    const stepLine = lineWith(await readFile(join(dir, "steps", "a", "step.toml"), "utf8"), /^tools = /);
    assert.match(
      stderr,
      new RegExp(
        `plan\\.toml:${planLine}: host\\.tools: step "a" needs no-such-tool-here, which is not on this host's PATH for steps \\(/usr/local/bin, /usr/bin, /bin, /usr/sbin, /sbin\\) \\[ERR_HOST_TOOL_MISSING\\]`,
      ),
    );
    assert.match(stderr, new RegExp(`steps/a/step\\.toml:${stepLine}: tools: step "a" needs nor-this-one`));
    assert.match(
      stderr,
      /hint: install it \(rootstock knows no Debian package for it: `apt-file search bin\/no-such-tool-here` finds one, once `apt-get install apt-file && apt-file update` has run\)/,
    );
    assert.doesNotMatch(stderr, STACK_LINE);
    assert.deepEqual(await readdir(join(store, "outputs")).catch(() => []), []);
    // --json, the journal and the reports carry the same lines as the terminal.
    const json = await runCli(["--store", store, "run", "--json", dir]);
    assert.equal(json.code, 1, json.stderr);
    const end = json.stdout
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line))
      .find((event) => event.type === "run:end");
    assert.match(end.error.details.join("\n"), new RegExp(`plan\\.toml:${planLine}: host\\.tools: `));
    assert.match(end.error.details.join("\n"), new RegExp(`steps/a/step\\.toml:${stepLine}: tools: `));
    const report = json.stderr.match(/report: (.*)\.html/)?.[1];
    assert.ok(report, json.stderr);
    assert.match(await readFile(`${report}.md`, "utf8"), new RegExp(`step\\.toml:${stepLine}: tools: `));
  });

  test("a step's own PATH that finds another tool than its key names, or none, is refused; one that finds the same file is not", async () => {
    const dir = await writePlan(join(work, "path-tools"), {
      toml: '[host]\ntools = ["sh"]\n',
      steps: {
        // /bin is a link to /usr/bin on a merged-/usr host; elsewhere both hold the same sh.
        same: {
          toml: 'version = "1"\n[env]\nPATH = "/bin:/usr/bin"\n',
          script: 'do_install() { echo hi > "$OUT/hi"; }\n',
        },
        none: {
          toml: 'version = "1"\n[env]\nPATH = "/nowhere"\n',
          script: 'do_install() { echo hi > "$OUT/hi"; }\n',
        },
      },
    });
    const store = join(work, "path-tools-store");
    const run = await runCli(["--store", store, "run", dir]);
    assert.equal(run.code, 1, run.stderr);
    assert.match(
      run.stderr,
      /steps\/none\/step\.toml:\d+: env\.PATH: step "none" would run no sh \(its \[env\] PATH, \/nowhere, finds none\), but its key names \S+\/sh, the sh that rootstock's PATH for steps finds \[ERR_HOST_TOOL_ELSEWHERE\]/,
    );
    assert.doesNotMatch(run.stderr, /step "same"/);
    assert.equal((await runCli(["--store", store, "run", dir, "same"])).code, 0);
  });

  test("a host tool that leads out of what a sandboxed step sees (a link to /opt) is refused before anything runs", async () => {
    const dir = await writePlan(join(work, "opt-tool"), {
      toml: '[host]\ntools = ["sh"]\n',
      steps: { a: { script: 'do_install() { echo hi > "$OUT/hi"; }\n' } },
    });
    const { graph, tools } = await openPlan(dir);
    const sh = tools.get("sh");
    assert.ok(sh);
    // As identified where the sh found is a link kept outside /usr (a toolchain under /opt, say).
    const link = join(work, "opt-tool-bin", "sh");
    await mkdir(join(work, "opt-tool-bin"), { recursive: true });
    await symlink(sh.realPath, link);
    const elsewhere = new Map([["sh", { ...sh, path: link }]]);
    await assert.rejects(
      runPlan(graph, { storeDir: join(work, "opt-tool-store"), tools: elsewhere }),
      (error: unknown) => {
        assert.ok(error instanceof RootstockErrors);
        assert.match(
          error.errors[0]?.message ?? "",
          new RegExp(
            `step "a" needs sh, which is ${link} and leads through ${link}: a bwrap step sees only the host's /usr, /bin, /sbin and /lib folders`,
          ),
        );
        assert.equal(error.errors[0]?.code, "ERR_HOST_TOOL_UNREACHABLE");
        return true;
      },
    );
  });

  test("a declared tool that is there but cannot run says what is in the way, not to install it", {
    skip: process.getuid?.() === 0 ? false : "needs root to put a file in /usr/local/bin",
  }, async () => {
    const name = `rootstock-test-noexec-${process.pid}`;
    await writeFile(`/usr/local/bin/${name}`, "#!/bin/sh\n", { mode: 0o644 });
    try {
      const dir = await writePlan(join(work, "noexec-tool"), {
        toml: `[host]\ntools = ["sh", "${name}"]\n`,
        steps: { a: { script: 'do_install() { echo hi > "$OUT/hi"; }\n' } },
      });
      const run = await runCli(["--store", join(work, "noexec-tool-store"), "run", dir]);
      assert.equal(run.code, 1);
      assert.match(run.stderr, new RegExp(`/usr/local/bin/${name} is not executable \\(mode 0644\\)`));
      assert.match(run.stderr, /hint: what is there is in the way: fix it \(or remove it\) and install/);
    } finally {
      await rm(`/usr/local/bin/${name}`, { force: true });
    }
  });

  test("doctor flags a plan's tool found where its sandboxed steps do not see it", {
    skip: process.getuid?.() === 0 ? false : "needs root to put a tool in /usr/local/bin",
  }, async () => {
    // A tool the steps' PATH finds, as a link to a toolchain kept outside /usr.
    const name = `rootstock-test-tool-${process.pid}`;
    const target = join(work, "toolchain", name);
    await mkdir(join(work, "toolchain"), { recursive: true });
    await writeFile(target, "#!/bin/sh\necho tool 1.0\n", { mode: 0o755 });
    await symlink(target, `/usr/local/bin/${name}`);
    try {
      const dir = await writePlan(join(work, "doctor-reach"), {
        toml: `[host]\ntools = ["sh", "${name}"]\n`,
        steps: { a: { script: 'do_install() { echo hi > "$OUT/hi"; }\n' } },
      });
      const doctor = await runCli(["doctor", dir]);
      assert.equal(doctor.code, 1, doctor.stdout);
      assert.match(
        doctor.stdout,
        new RegExp(
          `doctor: 1 found where a sandboxed step does not see it .*: ${name} \\(/usr/local/bin/${name}, through ${target}\\)`,
        ),
      );
      // Its own row says so too, not "ok" above the summary that says otherwise.
      assert.match(
        doctor.stdout,
        new RegExp(
          `^ {2}outside {2}${name} +/usr/local/bin/${name} — .*; a sandboxed step does not see it \\(through ${target}\\)$`,
          "m",
        ),
      );
      assert.doesNotMatch(doctor.stdout, new RegExp(`^ {2}ok +${name} `, "m"));
    } finally {
      await rm(`/usr/local/bin/${name}`, { force: true });
    }
  });

  test("doctor --install that installs a package yet still lacks its command says to reinstall it", {
    skip:
      process.getuid?.() !== 0
        ? "installing needs root"
        : existsSync("/usr/bin/lzip")
          ? "lzip is installed here: the test needs a package that is not"
          : false,
  }, async () => {
    // lzip is a package rootstock knows by its command; apt here only pretends to install it.
    const bin = join(work, "fake-apt");
    await mkdir(bin, { recursive: true });
    await writeFile(join(bin, "apt-get"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    const dir = await writePlan(join(work, "reinstall"), {
      toml: '[host]\ntools = ["sh", "lzip"]\n',
      steps: { a: { toml: 'version = "1"\n' } },
    });
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    try {
      const { code, stdout } = await runCli(["doctor", dir, "--install", "--quiet"]);
      assert.equal(code, 1);
      assert.match(stdout, /lzip .*apt-get installed lzip, yet it is not there: reinstall it/);
      assert.match(stdout, /^ {2}apt-get install --reinstall -y lzip$/m);
      assert.doesNotMatch(stdout, /Install them with/);
    } finally {
      process.env.PATH = path;
    }
  });

  test("demo --offline installs nothing and runs no apt: it says what is missing", {
    skip:
      process.getuid?.() !== 0
        ? "as a user the demo installs nothing anyway"
        : existsSync("/usr/bin/makeinfo")
          ? "makeinfo is installed here: the test needs a tool that is not"
          : false,
  }, async () => {
    const bin = join(work, "recording-apt");
    const calls = join(work, "apt-calls");
    await mkdir(bin, { recursive: true });
    await writeFile(join(bin, "apt-get"), `#!/bin/sh\necho "$@" >> '${calls}'\nexit 0\n`, { mode: 0o755 });
    const dir = await writeTestedPlan(join(work, "offline-demo"), { tools: ["sh", "makeinfo"] });
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    try {
      const demo = await runCli(["--store", join(work, "offline-demo-store"), "demo", dir, "--offline"]);
      assert.equal(demo.code, 1, demo.stderr);
      assert.match(
        demo.stderr,
        /\[ERR_DEMO_HOST\]\n {2}hint: install what is missing \(offline, the demo installs nothing: on an air-gapped machine, bring the packages. \.deb files/,
      );
      assert.equal(existsSync(calls), false, "apt-get was run");
    } finally {
      process.env.PATH = path;
    }
  });

  test("--dry-run says what would run, then refuses as the run would; the hint quotes the plan", {
    skip: existsSync("/usr/bin/makeinfo")
      ? "makeinfo is installed here: the test needs a tool that is not"
      : false,
  }, async () => {
    // makeinfo: a tool whose package (texinfo) rootstock knows, and a host without it.
    const dir = await writePlan(join(work, "missing tool dry"), {
      toml: '[host]\ntools = ["sh", "makeinfo"]\n',
      steps: { a: { toml: 'version = "1"\n' } },
    });
    const store = join(work, "missing-tool-dry-store");
    const { code, stdout, stderr } = await runCli(["--store", store, "run", "--dry-run", dir]);
    assert.equal(code, 1, stderr);
    assert.match(stdout, /\ba\b.*(no entry|never built)/);
    assert.match(stderr, /step "a" needs makeinfo, which is not on this host's PATH/);
    assert.ok(stderr.includes(`rootstock doctor '${dir}' --install\` as root installs texinfo`), stderr);
  });

  test("--dry-run refuses a pinned size that a source already in the store contradicts, as the run would", async () => {
    const store = join(work, "dry-size-store");
    const file = join(work, "dry-size.tar.gz");
    await writeFile(file, "not really a tarball, but 41 bytes long.\n");
    const sha256 = createHash("sha256")
      .update(await readFile(file))
      .digest("hex");
    assert.equal((await runCli(["--store", store, "sources", "import", file])).code, 0);
    const dir = await writePlan(join(work, "dry-size"), {
      steps: {
        a: {
          toml: `version = "1"\n[[sources]]\nurl = "https://example.org/dry-size.tar.gz"\nsha256 = "${sha256}"\nsize = 40\n`,
        },
      },
    });
    for (const args of [
      ["run", "--dry-run", dir],
      ["run", dir],
    ]) {
      const { code, stderr } = await runCli(["--store", store, ...args]);
      assert.equal(code, 1, stderr);
      assert.match(
        stderr,
        /the file is 41 bytes, not the pinned 40: the pin's size is wrong \[ERR_SOURCE_SIZE_PIN\]/,
      );
      assert.match(stderr, /hint: set size = 41/);
    }
    // The rehearsal sets nothing aside.
    assert.deepEqual(await readdir(join(store, "sources", "quarantine")).catch(() => []), []);
  });
});

describe("a step that fails before its sandbox exists", () => {
  test("is not offered to rootstock shell, which would refuse it", async () => {
    const dir = await writePlan(join(work, "patch-fails"), {
      steps: { a: { patches: { "01.patch": "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n" } } },
    });
    const { code, stdout, stderr } = await runCli(["--store", join(work, "patch-fails-store"), "run", dir]);
    assert.equal(code, 1, stderr);
    assert.match(stdout, /✗ a failed: step "a": patches\/01\.patch does not apply/);
    assert.doesNotMatch(`${stdout}${stderr}`, /rootstock shell/);
    assert.match(
      stderr,
      /hint: read the log with `rootstock log .* a` \(it failed before its sandbox existed/,
    );
  });
});

describe("links in a step's files", () => {
  test("a link to elsewhere in the plan arrives as its file; one within files/ stays a link", async () => {
    const dir = await writePlan(join(work, "links"), { steps: { a: { files: { "local.txt": "local\n" } } } });
    await mkdir(join(dir, "shared"), { recursive: true });
    await writeFile(join(dir, "shared", "data.txt"), "shared data\n");
    await symlink("../../../shared/data.txt", join(dir, "steps", "a", "files", "data.txt"));
    await symlink("local.txt", join(dir, "steps", "a", "files", "alias.txt"));
    await writeFile(
      join(dir, "shared", "build.sh"),
      'do_install() { cat "$FILES/data.txt" "$FILES/alias.txt" > "$OUT/got"; readlink "$FILES/alias.txt" > "$OUT/alias"; }\n',
    );
    await symlink("../../shared/build.sh", join(dir, "steps", "a", "build.sh"));
    const store = join(work, "links-store");
    const { code, stderr } = await runCli(["--store", store, "run", dir]);
    assert.equal(code, 0, stderr);
    const [entry] = await readdir(join(store, "outputs"));
    const out = join(store, "outputs", entry as string, "out");
    assert.equal(await readFile(join(out, "got"), "utf8"), "shared data\nlocal\n");
    assert.equal(await readFile(join(out, "alias"), "utf8"), "local.txt\n");
  });
});

describe("rootstock log", () => {
  test("a step this plan never built, whose entry another plan made, shows that build's log and says so", async () => {
    const store = join(work, "log-other-plan-store");
    const steps = { s: { script: 'do_install() { echo "built by the first"; echo x > "$OUT/x"; }\n' } };
    const first = await writePlan(join(work, "log-first"), { name: "first", steps });
    const second = await writePlan(join(work, "log-second"), { name: "second", steps });
    assert.equal((await runCli(["--store", store, "run", first])).code, 0);
    const cached = await runCli(["--store", store, "run", second]);
    assert.match(cached.stdout, /0 built, 1 cached/);
    const log = await runCli(["--store", store, "log", second, "s"]);
    assert.equal(log.code, 0, log.stderr);
    assert.match(log.stdout, /built by the first/);
    assert.match(
      log.stderr,
      /its entry was built by plan first, step s, in run \S+: that build's log follows/,
    );
    const path = await runCli(["--store", store, "log", "--path", second, "s"]);
    assert.match(path.stdout, /\/runs\/[^/]+\/logs\/s\.log\n$/);
  });

  test("log and shell say when the step has changed since the build they look at, and what a run would do", async () => {
    const store = join(work, "log-changed-store");
    const good = { s: { script: 'do_install() { echo "the good one"; echo x > "$OUT/x"; }\n' } };
    const dir = await writePlan(join(work, "log-changed"), { name: "changed", steps: good });
    assert.equal((await runCli(["--store", store, "run", dir])).code, 0);
    await writePlan(dir, {
      name: "changed",
      steps: { s: { script: 'do_install() { echo "broken"; false; }\n' } },
    });
    assert.equal((await runCli(["--store", store, "run", dir])).code, 1);
    // The edit undone: the step is cached, and its latest build is still the failed one.
    await writePlan(dir, { name: "changed", steps: good });
    assert.match((await runCli(["--store", store, "run", dir])).stdout, /0 built, 1 cached/);
    const log = await runCli(["--store", store, "log", dir, "s"]);
    assert.equal(log.code, 0, log.stderr);
    assert.match(log.stdout, /broken/);
    assert.match(
      log.stderr,
      /\(step "s" has changed since this build, in run \S+: script; as the plan has it now, with its own variables, it is in the store, built in run \S+\)/,
    );
    const shell = await runCli(["--store", store, "shell", dir, "s", "-c", "echo inside"]);
    assert.equal(shell.code, 0, shell.stderr);
    assert.match(
      shell.stderr,
      /the step has changed since this build failed \(script\)[^\n]*is in the store/,
    );

    // Its log and build folder gone with gc: the hints say a run would build nothing.
    assert.equal((await runCli(["--store", store, "gc", "--keep-runs", "1", "--keep-days", "0"])).code, 0);
    const gone = await runCli(["--store", store, "log", dir, "s"]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /is gone \[ERR_LOG_NONE\]\n {2}hint: [^\n]*so a run does not build it again/);
    // --path too: a path to a file gc removed is no answer.
    const path = await runCli(["--store", store, "log", dir, "s", "--path"]);
    assert.equal(path.code, 1);
    assert.equal(path.stdout, "");
    assert.match(path.stderr, /is gone \[ERR_LOG_NONE\]/);
    const noFolder = await runCli(["--store", store, "shell", dir, "s", "-c", "true"]);
    assert.equal(noFolder.code, 1);
    assert.match(
      noFolder.stderr,
      /is gone \[ERR_SHELL_NO_BUILD\]\n {2}hint: [^\n]*so a run will not build it again/,
    );

    // Built with --set: compared with those values when log is given them too, and said so otherwise.
    const withVariable = await writePlan(join(work, "log-set"), {
      name: "log-set",
      toml: '[variables]\nV = "one"\n',
      steps: {
        s: {
          toml: 'version = "1"\n[env]\nFOO = "${V}"\n',
          script: 'do_install() { echo "$FOO" > "$OUT/f"; }\n',
        },
      },
    });
    assert.equal((await runCli(["--store", store, "run", withVariable, "--set", "V=two"])).code, 0);
    const plain = await runCli(["--store", store, "log", withVariable, "s"]);
    assert.match(
      plain.stderr,
      /env\.FOO; as the plan has it now, with its own variables, .*compared with those values by log --set/,
    );
    const given = await runCli(["--store", store, "log", withVariable, "s", "--set", "V=two"]);
    assert.equal(given.stderr, "", "the same inputs: nothing to say");

    // A copy under another name never built it: no failed build, and whose entry it uses.
    const copy = await writePlan(join(work, "log-changed-copy"), { name: "copied", steps: good });
    const other = await runCli(["--store", store, "shell", copy, "s", "-c", "true"]);
    assert.equal(other.code, 1);
    assert.match(
      other.stderr,
      /has no failed build to enter: this plan never built it, and its entry in the store was built by plan changed/,
    );
  });
});

describe("hints to copy", () => {
  test("name the store they were given, quoted as the shell needs", async () => {
    const dir = await writePlan(join(work, "fails here"), {
      name: "fails",
      steps: { f: { script: "do_install() { echo boom; false; }\n" } },
    });
    const store = join(work, "it's a store");
    const { code, stdout, stderr } = await runCli(["--store", store, "run", dir]);
    assert.equal(code, 1);
    const words = `--store ${shellWord(store)} '${dir}'`;
    assert.ok(shellWord(store).startsWith("'") && shellWord(store).includes("'\\''"), shellWord(store));
    assert.ok(stdout.includes(`shell: rootstock shell ${words} f`), stdout);
    assert.ok(stderr.includes(`\`rootstock log ${words} f\``), stderr);
    const log = await runCli(["--store", store, "log", dir, "f"]);
    assert.match(log.stdout, /boom/);
    // A step the plan does not have is said so, by shell as by log, not "never built".
    for (const command of ["shell", "log"]) {
      const unknown = await runCli(["--store", store, command, dir, "ff"]);
      assert.equal(unknown.code, 1);
      assert.match(
        unknown.stderr,
        /no step named "ff" in plan fails \[ERR_PLAN_UNKNOWN_STEP\]\n {2}hint: did you mean "f"\?/,
      );
    }
    // One step is one step, in the progress lines and the report.
    assert.match(stdout, /^run \S+: 1 step, \d+ at once$/m);
    const runDir = /report: (.*)\/report\.html/.exec(stdout)?.[1] as string;
    assert.ok(stdout.includes(`\n        ${runDir}/report.md\n`), "both reports are named");
    assert.match(
      await readFile(join(runDir, "report.md"), "utf8"),
      /Automation: .*: 1 step \(this run built 0, reused 0 from the cache, 1 failed\), 0 manual/,
    );
  });
});

describe("hints to copy (--set)", () => {
  test("carry the --set values given, or the copied command would build or look at another step", async () => {
    const dir = await writePlan(join(work, "fails-when-set"), {
      name: "fails-when-set",
      toml: "[variables]\nBROKEN = false\n",
      steps: {
        f: {
          toml: 'version = "1"\n[env]\nBROKEN = "${BROKEN}"\n',
          script: 'do_install() { if [ "$BROKEN" = true ]; then echo boom; false; fi; }\n',
        },
      },
    });
    const store = join(work, "set-hints-store");
    const run = await runCli(["--store", store, "run", dir, "--set", "BROKEN=true"]);
    assert.equal(run.code, 1);
    const words = `--store ${shellWord(store)} --set BROKEN=true ${shellWord(dir)}`;
    assert.ok(run.stdout.includes(`shell: rootstock shell ${words} f`), run.stdout);
    assert.ok(run.stderr.includes(`\`rootstock log ${words} f\``), run.stderr);
    assert.ok(run.stderr.includes(`\`rootstock shell ${words} f\``), run.stderr);
    // Its build folder removed: the hint's command fails the step again, as it said.
    assert.equal((await runCli(["--store", store, "gc", "--keep-runs", "0", "--keep-days", "0"])).code, 0);
    const shell = await runCli(["--store", store, "shell", dir, "f", "--set", "BROKEN=true", "-c", "true"]);
    assert.equal(shell.code, 1);
    assert.ok(shell.stderr.includes(`run \`rootstock run ${words} f\` to fail again`), shell.stderr);
    // The sources a plan needs depend on its variables too: fetch is told them.
    const withSource = await writePlan(join(work, "source-when-set"), {
      name: "source-when-set",
      toml: "[variables]\nWANT = false\n",
      steps: {
        s: {
          toml: `version = "1"\nwhen = "WANT"\n[[sources]]\nurl = "https://example.invalid/x.tar.gz"\nsha256 = "${"a".repeat(64)}"\n`,
        },
      },
    });
    const list = await runCli(["--store", store, "sources", "list", withSource, "--set", "WANT=true"]);
    assert.ok(
      list.stdout.includes(
        `rootstock fetch --store ${shellWord(store)} --set WANT=true ${shellWord(withSource)}`,
      ),
      list.stdout,
    );
  });
});

describe("rootstock test", () => {
  test("a plan of another arch than a PC's is not booted in an x86 machine: test and boot refuse it before building", async () => {
    const dir = await writeTestedPlan(join(work, "arm-plan"), { name: "arm" });
    const planFile = join(dir, "plan.toml");
    await writeFile(
      planFile,
      (await readFile(planFile, "utf8")).replace('arch = "x86_64"', 'arch = "aarch64"'),
    );
    const store = join(work, "arm-plan-store");
    for (const command of [
      ["test", dir],
      ["boot", dir, "ird"],
      ["demo", dir, "--offline"],
    ]) {
      const refused = await runCli(["--store", store, ...command]);
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(
        refused.stderr,
        /plan\.toml:\d+: arch: plan \S+ is for aarch64, and rootstock boots only x86 machines \(qemu-system-x86_64: x86_64, i686\) \[ERR_BOOT_ARCH_UNSUPPORTED\]/,
      );
    }
    assert.deepEqual(await readdir(join(store, "outputs")).catch(() => []), [], "nothing was built");
    const doctor = await runCli(["--store", store, "doctor", dir]);
    assert.match(
      doctor.stdout,
      /note +plan \S+ is for aarch64: rootstock builds it and makes its images, but boots only x86 machines/,
    );
  });

  test("an image without tests points to the command that boots it: boot, or netboot for a netboot image", async () => {
    const dir = await writeTestedPlan(join(work, "test-hints"), {
      name: "hints",
      more: `[images.plain]
kind = "initramfs"
contents = ["k"]
[images.plain.boot]
[images.sys]
kind = "squashfs"
contents = ["k"]
[images.sys.netboot]
busybox = { step = "k" }
init = "/bin/sh"
`,
    });
    const store = join(work, "test-hints-store");
    const netbooted = await runCli(["--store", store, "test", dir, "sys"]);
    assert.equal(netbooted.code, 1);
    assert.match(
      netbooted.stderr,
      /image "sys" has no tests \[ERR_TEST_NO_TESTS\]\n {2}hint: .*rootstock netboot \S+ sys serves it/,
    );
    const booted = await runCli(["--store", store, "test", dir, "plain"]);
    assert.match(
      booted.stderr,
      /image "plain" has no tests \[ERR_TEST_NO_TESTS\]\n {2}hint: .*rootstock boot \S+ plain$/m,
    );
  });
});

describe("doctor", () => {
  test("counts every requirement it lists as found", async () => {
    const { stdout } = await runCli(["doctor"]);
    const found = stdout.split("\n").filter((line) => /^ {2}ok {2,}/.test(line)).length;
    const summary = /doctor: all (\d+) host requirements found/.exec(stdout);
    if (summary) assert.equal(Number(summary[1]), found, stdout);
    else assert.match(stdout, /missing/);
  });

  test("demo of a plan without boot tests says so before it checks the host or fetches", async () => {
    const result = await runCli(["--store", join(work, "demo-untested-store"), "demo", "plans/example"]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /plan example has no boot tests \[ERR_TEST_NO_TESTS\]/);
    assert.doesNotMatch(result.stdout, /== 1\/4/);
  });

  test("with a plan, a tool rootstock needs too is listed and counted once", async () => {
    const { stdout } = await runCli(["doctor", "plans/tiny-linux"]);
    const names = stdout.split("\n").flatMap((line) => /^ {2}(?:ok|missing) +(\S+)/.exec(line)?.[1] ?? []);
    assert.ok(names.includes("tar") && names.includes("gcc"), stdout);
    assert.deepEqual(names, [...new Set(names)], "no name twice");
    assert.ok(names.includes("pxe-virtio.rom"), "a file by its name, not run into its path");
  });

  test("a tool no package provides and a declared package apt does not know get a hint each", {
    skip: existsSync("/usr/bin/apt-cache") ? false : "no apt-cache on this machine",
  }, async () => {
    const dir = await writePlan(join(work, "doctor-unknowns"), {
      toml: '[host]\ntools = ["sh", "no-such-tool-rootstock-cli"]\npackages = ["no-such-package-rootstock-cli"]\n',
      steps: { a: {} },
    });
    const { code, stdout } = await runCli(["doctor", dir]);
    assert.equal(code, 1, stdout);
    assert.match(
      stdout,
      /doctor: 1 missing that no known package provides: no-such-tool-rootstock-cli \(`apt-file search bin\/NAME`/,
    );
    assert.match(
      stdout,
      /doctor: 1 declared package\(s\) that apt does not know: no-such-package-rootstock-cli \(`apt-cache search NAME`/,
    );
  });
});

/** rootstock with its standard output on a full device (/dev/full), its stderr captured. */
function runIntoFullDevice(args: string[]) {
  const full = openSync("/dev/full", "w");
  try {
    return spawnSync(process.execPath, [ROOTSTOCK, ...args], {
      stdio: ["ignore", full, "pipe"],
      encoding: "utf8",
      env: { ...process.env, NO_COLOR: "1" },
    });
  } finally {
    closeSync(full);
  }
}

/** A Node older than rootstock needs, on this machine, which then runs rootstock on the bundled one. */
const oldNode = (() => {
  for (const path of ["/usr/bin/node", "/usr/local/bin/node"]) {
    try {
      const version = execFileSync(path, ["-p", "process.versions.node"], { encoding: "utf8" }).trim();
      const [major = 0, minor = 0] = version.split(".").map(Number);
      if (major < 22 || (major === 22 && minor < 18)) return path;
    } catch {}
  }
  return undefined;
})();

/** A run of one step that sleeps a minute, started in its own store; resolves once the step is running. */
/** A plan whose image ird (an initramfs of step k, the kernel too) lists a boot test, with its file. */
async function writeTestedPlan(
  dir: string,
  options: { name?: string; tools?: string[]; more?: string } = {},
): Promise<string> {
  const plan = await writePlan(dir, {
    ...(options.name === undefined ? {} : { name: options.name }),
    toml: `kernel = { step = "k", path = "bzImage" }
[host]
tools = ${JSON.stringify(options.tools ?? ["sh"])}
[images.ird]
kind = "initramfs"
contents = ["k"]
[images.ird.boot]
tests = ["tests/a.test.ts"]
${options.more ?? ""}`,
    steps: { k: {} },
  });
  await mkdir(join(plan, "tests"), { recursive: true });
  await writeFile(join(plan, "tests", "a.test.ts"), "export default { async a() {} };\n");
  return plan;
}

async function startSlowRun(name: string, options: { command?: string[] } = {}) {
  const dir = await writePlan(join(work, name), {
    steps: { slow: { script: "do_install() { sleep 60; }\n" } },
  });
  const store = join(work, `${name}-store`);
  const child = startRootstock(["--store", store, "run", dir], options);
  const ended = finished(child);
  await untilOutput(child, "▶ slow");
  return { dir, store, child, ended };
}

describe("a killed run", () => {
  test("started through an older Node, killed with -9, leaves no rootstock running", {
    skip: oldNode ? false : "no Node older than 22.18 on this machine",
  }, async () => {
    const { store, child: wrapper } = await startSlowRun("old-node", { command: [oldNode as string] });
    // The bundled Node's rootstock writes to the same terminal: once the shell has it back, nothing.
    let afterKill = "";
    for (const stream of [wrapper.stdout, wrapper.stderr]) stream?.on("data", (data) => (afterKill += data));
    wrapper.kill("SIGKILL");
    // It notices within half a second and ends the run as on SIGTERM.
    for (let tries = 0; tries < 50; tries++) {
      const [run] = await listRuns(store);
      if (run?.result === "interrupted") {
        await new Promise((resolve) => setTimeout(resolve, 500));
        assert.equal(afterKill, "", "it wrote over the shell's prompt");
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.fail(`the run was not ended: ${JSON.stringify(await listRuns(store))}`);
  });

  test("started through an older Node, a Ctrl-C that ends it by the signal ends the older Node by it too", {
    skip: !oldNode
      ? "no Node older than 22.18 on this machine"
      : process.getuid?.() !== 0
        ? "needs root to put a tool in /usr/local/bin"
        : false,
  }, async () => {
    // A plan tool whose version query hangs: Ctrl-C comes while the run asks it, before the run has a
    // handler of its own, and rootstock ends by the signal's default.
    const name = `rootstock-hang-${process.pid}`;
    await writeFile(`/usr/local/bin/${name}`, "#!/bin/sh\nsleep 30\n", { mode: 0o755 });
    try {
      const dir = await writePlan(join(work, "old-node-ctrl-c"), {
        toml: `[host]\ntools = ["sh", "${name}"]\n`,
        steps: { a: {} },
      });
      const child = spawn(
        oldNode as string,
        [ROOTSTOCK, "--store", join(work, "old-node-ctrl-c-store"), "run", dir],
        {
          detached: true,
          stdio: "ignore",
        },
      );
      const ended = new Promise<[number | null, string | null]>((resolve) =>
        child.once("exit", (code, signal) => resolve([code, signal])),
      );
      for (let tries = 0; processesMentioning(`${name} --version`).length === 0; tries++) {
        assert.ok(tries < 200, "the version query never started");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      // As a terminal's Ctrl-C does: to the whole process group.
      process.kill(-(child.pid as number), "SIGINT");
      const [code, signal] = await ended;
      assert.ok(signal === "SIGINT" || code === 130, `ended with status ${code}, signal ${signal}`);
    } finally {
      await rm(`/usr/local/bin/${name}`, { force: true });
    }
  });

  test("lasts, in `rootstock runs`, until the last line its steps logged, not its last event", async () => {
    const storeDir = join(work, "killed-store");
    const runId = "20261129-120000-000-abcdef";
    const runDir = join(storeDir, "runs", runId);
    await mkdir(join(runDir, "logs"), { recursive: true });
    const started = Date.parse("2026-11-29T12:00:00Z");
    const events = [
      { type: "run:start", runId, plan: "p", runDir, steps: ["big"], jobs: 1, time: started },
      { type: "step:start", step: "big", key: "k", attempt: 1, worker: 0, log: "l", time: started + 10 },
    ];
    await writeFile(
      join(runDir, "journal.jsonl"),
      events.map((event) => `${JSON.stringify(event)}\n`).join(""),
    );
    await utimes(join(runDir, "journal.jsonl"), new Date(started + 10), new Date(started + 10));
    await writeFile(join(runDir, "logs", "big.log"), "working…\n");
    await utimes(join(runDir, "logs", "big.log"), new Date(started + 2500), new Date(started + 2500));
    const [run] = await listRuns(storeDir);
    assert.equal(run?.result, "unfinished");
    assert.equal(run?.totalMs, 2500);
  });
});

describe("Ctrl-C", () => {
  test("ends a run with the exit status of an interrupted command (130), saying so", async () => {
    const { dir, store, child, ended } = await startSlowRun("interrupted");
    // Twice, as an impatient person does: the second must not kill rootstock while it records the run.
    child.kill("SIGINT");
    setTimeout(() => child.kill("SIGINT"), 15);
    const result = await ended;
    assert.equal(result.code, 130, `${result.stdout}\n${result.stderr}`);
    assert.match(result.stderr, /error: the run was interrupted \[ERR_INTERRUPTED\]/);
    assert.doesNotMatch(result.stderr, STACK_LINE);
    assert.match(result.stdout, /■ slow interrupted\n/);
    assert.match(result.stdout, /run \S+ interrupted: 0 built, 0 cached, 1 stopped in/);
    assert.doesNotMatch(result.stdout, /failed|rootstock shell/);
    const [run] = await listRuns(store);
    assert.equal(run?.result, "interrupted", "rootstock runs says interrupted, not failed");
    // run.json accounts for the step it stopped; --explain says it did not finish, and shell enters it.
    assert.deepEqual(JSON.parse(await readFile(join(run?.runDir ?? "", "run.json"), "utf8")).interrupted, [
      "slow",
    ]);
    const explained = await runCli(["--store", store, "run", "--dry-run", dir]);
    assert.match(
      explained.stdout,
      /slow +runs: no entry with its key; its last build with these inputs did not finish/,
    );
    const shell = await runCli(["--store", store, "shell", dir, "slow", "-c", "pwd"]);
    assert.equal(shell.code, 0, shell.stderr);
    const markdown = await readFile(join(run?.runDir ?? "", "report.md"), "utf8");
    assert.match(markdown, /\* slow 1: interrupted after/);
    assert.match(markdown, /Result: interrupted/);
    assert.match(await readFile(join(run?.runDir ?? "", "report.html"), "utf8"), /badge interrupted/);
  });

  test("report of a run still going on says so, not that it did not finish", async () => {
    const { store, child, ended } = await startSlowRun("still-running");
    // runs --json gives a run going on the time it has run so far, as the text listing does.
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const [listed] = JSON.parse((await runCli(["--store", store, "runs", "--json"])).stdout);
    assert.equal(listed?.result, "running");
    assert.ok(listed?.totalMs >= 1000, `totalMs ${listed?.totalMs}`);
    const report = await runCli(["--store", store, "report", "last"]);
    const markdown = /report: (\S+report\.md)/.exec(report.stdout)?.[1];
    const text = markdown ? await readFile(markdown, "utf8") : "";
    child.kill("SIGINT");
    await ended;
    assert.equal(report.code, 0, report.stderr);
    assert.match(report.stdout, /is still running: the report is of the run so far/);
    assert.match(text, /Result: still running/);
    assert.doesNotMatch(text, /did not finish/);
  });

  test("output to a full device is an error (status 74, said on stderr), not a success that printed nothing", () => {
    for (const args of [
      ["runs"],
      ["plan", "show", join(import.meta.dirname, "..", "plans", "example")],
      ["doctor"],
      ["--help"],
      ["--version"],
      ["run", "--help"],
    ]) {
      const result = runIntoFullDevice(["--store", join(work, "full-store"), ...args]);
      assert.equal(result.status, 74, `${args.join(" ")}: ${result.stderr}`);
      assert.match(
        result.stderr,
        /^error: cannot write the command's output: ENOSPC.*\[ERR_OUTPUT_UNWRITABLE\]$/m,
      );
      assert.doesNotMatch(result.stderr, STACK_LINE);
    }
  });

  test("run from a folder that was removed: a relative plan is refused with a hint, what needs no folder works", async () => {
    const gone = join(work, "gone");
    const inGone = (...args: string[]) =>
      spawnSync(
        "sh",
        [
          "-c",
          'mkdir -p "$1" && cd "$1" && rmdir "$1" && shift && exec "$@"',
          "sh",
          gone,
          process.execPath,
          ROOTSTOCK,
          "--store",
          join(work, "gone-store"),
          ...args,
        ],
        { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } },
      );
    for (const args of [["sources", "import", "x.tar.gz"]]) {
      const result = inGone(...args);
      assert.match(result.stderr, /\[ERR_CLI_NO_FOLDER\]/, `${args.join(" ")}: ${result.stderr}`);
    }
    const relative = inGone("plan", "show", "plans/example");
    assert.equal(relative.status, 1, relative.stderr);
    assert.match(
      relative.stderr,
      /^error: the current folder no longer exists .*\[ERR_CLI_NO_FOLDER\]\n {2}hint: cd to a folder that exists/,
    );
    assert.doesNotMatch(relative.stderr, STACK_LINE);
    for (const args of [
      ["-V"],
      ["runs"],
      ["plan", "show", join(import.meta.dirname, "..", "plans", "example")],
    ]) {
      const result = inGone(...args);
      assert.equal(result.status, 0, `${args.join(" ")}: ${result.stderr}`);
    }
  });

  test("run from a folder whose name is not UTF-8: a relative path is refused with a rename hint, not resolved elsewhere", async () => {
    await mkdir(Buffer.from(`${work}/dir\xe9`, "latin1"), { recursive: true });
    const inLatin1 = (...args: string[]) =>
      spawnSync(
        "sh",
        [
          "-c",
          `cd "$(printf 'dir\\351')" && echo x > a.txt && exec "$@"`,
          "sh",
          process.execPath,
          ROOTSTOCK,
          "--store",
          join(work, "latin1-store"),
          ...args,
        ],
        { cwd: work, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } },
      );
    for (const args of [
      ["sources", "import", "a.txt"],
      ["mirror", join(import.meta.dirname, "..", "plans", "example"), "out"],
    ]) {
      const result = inLatin1(...args);
      assert.equal(result.status, 1, `${args.join(" ")}: ${result.stderr}`);
      assert.match(
        result.stderr,
        /the current folder's name is not valid UTF-8 .*\[ERR_CLI_FOLDER_NOT_UTF8\]\n {2}hint: rename it/,
      );
    }
    assert.equal(existsSync(join(work, "dir\uFFFD")), false, "no folder was made under the other name");
    // A folder under the U+FFFD name beside it is another folder: still refused, not taken for it.
    await mkdir(join(work, "dir\uFFFD"));
    await writeFile(join(work, "dir\uFFFD", "a.txt"), "other\n");
    assert.match(inLatin1("sources", "import", "a.txt").stderr, /\[ERR_CLI_FOLDER_NOT_UTF8\]/);
    // A folder given by a name that is not UTF-8 is not made under another name either.
    const store = spawnSync(
      "sh",
      ["-c", `exec "$0" "$1" --store "$(printf '${work}/st\\351')" runs`, process.execPath, ROOTSTOCK],
      { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } },
    );
    assert.equal(store.status, 1, store.stderr);
    assert.match(store.stderr, /--store \S+: its name is not valid UTF-8 .*\[ERR_CLI_BAD_FOLDER\]/);
    assert.equal(existsSync(join(work, "st\uFFFD")), false);
    // Nor taken for the folder of that name in UTF-8 when both are there.
    await mkdir(Buffer.from(`${work}/twin\xe9`, "latin1"));
    await mkdir(join(work, "twin\uFFFD"));
    const twin = spawnSync(
      "sh",
      ["-c", `exec "$0" "$1" --store "$(printf '${work}/twin\\351')" runs`, process.execPath, ROOTSTOCK],
      { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } },
    );
    assert.match(twin.stderr, /\[ERR_CLI_BAD_FOLDER\]/);
    assert.equal(inLatin1("-V").status, 0);
  });

  test("a build whose output cannot be written goes on to its end, and the command says 74", async () => {
    const dir = await writePlan(join(work, "full-build"), {
      steps: { slow: { script: 'do_install() { sleep 1; echo built > "$OUT/built"; }\n' } },
    });
    const store = join(work, "full-build-store");
    const built = runIntoFullDevice(["--store", store, "run", dir]);
    assert.equal(built.status, 74, built.stderr);
    assert.match(built.stderr, /\[ERR_OUTPUT_UNWRITABLE\]/);
    assert.doesNotMatch(built.stderr, /ERR_INTERRUPTED/);
    const [run] = await listRuns(store);
    assert.equal(run?.result, "passed", "the build was not thrown away");
    // A build that fails says so on stderr, which still works, and ends as a failure, not as a full disk.
    const failing = await writePlan(join(work, "full-build-fails"), {
      steps: { bad: { script: "do_compile() { exit 3; }\n" } },
    });
    const failed = runIntoFullDevice(["--store", store, "run", failing]);
    assert.equal(failed.status, 1, failed.stderr);
    assert.match(failed.stderr, /\[ERR_OUTPUT_UNWRITABLE\]/);
    assert.match(failed.stderr, /error: 1 step failed: bad \[ERR_RUN_FAILED\]/);
    // log copies a file: its copy stops at the full disk and ends as one (it hung, and Node ended it 13).
    const log = runIntoFullDevice(["--store", store, "log", failing, "bad"]);
    assert.equal(log.status, 74, log.stderr);
    assert.match(log.stderr, /\[ERR_OUTPUT_UNWRITABLE\]/);
    assert.doesNotMatch(log.stderr, /unsettled top-level await/);
  });

  test("a reader that goes away (`run P | head -1`) interrupts the run as Ctrl-C does, with status 141", async () => {
    // It keeps writing, so that a write finds the reader gone however the lines were buffered.
    const dir = await writePlan(join(work, "reader-gone"), {
      steps: { slow: { script: "do_install() { while :; do echo tick; sleep 0.1; done; }\n" } },
    });
    const store = join(work, "reader-gone-store");
    const child = startRootstock(["--store", store, "run", "--json", dir]);
    const ended = finished(child);
    await untilOutput(child, '"type":"run:start"');
    child.stdout?.destroy();
    const result = await ended;
    assert.equal(result.code, 141, result.stderr);
    assert.match(result.stderr, /error: the run was interrupted \[ERR_INTERRUPTED\]/);
    const [run] = await listRuns(store);
    assert.equal(run?.result, "interrupted", "the run is recorded as interrupted, not left running");
  });
});

/** The 1-based number of the first line matching `pattern`. */
function lineWith(text: string, pattern: RegExp): number {
  const index = text.split("\n").findIndex((line) => pattern.test(line));
  assert.ok(index >= 0, `no line matches ${pattern}`);
  return index + 1;
}

describe("report.md", () => {
  test("its command line has the options the run was given, so that it runs the same again", async () => {
    const dir = await writePlan(join(work, "given-options"), { steps: { a: {} } });
    const store = join(work, "given-options-store");
    const run = await runCli(["--store", store, "run", "-j", "1", "-k", "--mirror", "/srv/m", dir, "a"]);
    assert.equal(run.code, 0, run.stderr);
    const [last] = await listRuns(store);
    const markdown = await readFile(join(last?.runDir ?? "", "report.md"), "utf8");
    assert.ok(
      markdown.includes(`rootstock run --jobs 1 --keep-going --mirror /srv/m ${shellWord(dir)} a\n`),
      markdown,
    );
  });
});

describe("limits of the process", () => {
  const limited = (limit: string, args: string[]) =>
    finished(startRootstock(args, { command: ["prlimit", limit, process.execPath] }));

  test("too few file descriptors (ulimit -n) is named with the limit and a hint, not a crash", async () => {
    // A fresh store: the host tools' versions are asked first, each query a process with two pipes.
    const result = await limited("--nofile=32", [
      "--store",
      join(work, "limit-nofile-store"),
      "plan",
      "show",
      join(import.meta.dirname, "..", "plans", "example"),
    ]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stderr,
      /too many open files: rootstock reached this process's limit of open files \(`ulimit -n`, now 32\).*\[ERR_HOST_LIMIT\]\n {2}hint: raise it/,
    );
    assert.doesNotMatch(result.stderr, STACK_LINE);
  });

  test("under too few file descriptors every step that fails says why: none fails unseen", async () => {
    const steps = Object.fromEntries(
      Array.from({ length: 16 }, (_, index) => [
        `s${index}`,
        { script: 'do_install() { echo $$ > "$OUT/f"; sleep 0.3; }\n' },
      ]),
    );
    const dir = await writePlan(join(work, "limit-wide"), { toml: '[host]\ntools = ["sh"]\n', steps });
    // Where the limit bites depends on the descriptors the runner passes on: a range, each checked, and
    // at least one that gets as far as building (a lower one stops at the host tools' versions).
    let built = 0;
    for (let limit = 24; limit <= 40; limit += 2) {
      const result = await limited(`--nofile=${limit}`, [
        "--store",
        join(work, `limit-wide-store-${limit}`),
        "run",
        "--json",
        "--keep-going",
        "-j",
        "8",
        dir,
      ]);
      const events = result.stdout
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .map((line) => JSON.parse(line));
      const end = events.find((event) => event.type === "run:done");
      if (!end) continue;
      built++;
      const told = new Set(events.filter((event) => event.type === "step:failed").map((event) => event.step));
      for (const step of end.failed) assert.ok(told.has(step), `at ${limit}: ${step} failed without a word`);
    }
    assert.ok(built > 0, "no limit let a run build");
  });

  test("a source larger than the file-size limit (ulimit -f) is refused naming the limit, not as a bug", async () => {
    const file = join(work, "limit-big.bin");
    await writeFile(file, Buffer.alloc(300_000, 1));
    const result = await limited("--fsize=100000", [
      "--store",
      join(work, "limit-big-store"),
      "sources",
      "import",
      file,
    ]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stderr,
      /a file grew past this process's file-size limit \(`ulimit -f`, now 100000 bytes\) \(copyfile \S+limit-big-store\/sources\/tmp\/\S+\) \[ERR_HOST_LIMIT\]/,
    );
  });

  test("rootstock's own files past the file-size limit are named: the journal, a report", async () => {
    const dir = await writePlan(join(work, "limit-reports"), { steps: { a: {} } });
    const result = await limited("--fsize=8192", ["--store", join(work, "limit-reports-store"), "run", dir]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stderr,
      /file-size limit \(`ulimit -f`, now 8192 bytes\) \(write \S+\/runs\/\S+\/(journal\.jsonl|report\.html|report\.md)\) \[ERR_HOST_LIMIT\]/,
    );
  });

  test("a step whose output reaches the file-size limit (ulimit -f) fails saying so, and is tried again", async () => {
    const dir = await writePlan(join(work, "limit-fsize"), {
      steps: {
        chatty: {
          toml: 'version = "1"\nretries = 1\n',
          script: 'do_compile() { yes "padding padding padding" | head -n 100000; }\n',
        },
      },
    });
    const store = join(work, "limit-fsize-store");
    const result = await limited("--fsize=500000", ["--store", store, "run", dir]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stdout, /chatty: attempt 1 failed \(.*SIGXFSZ.*`ulimit -f`\S*\); retrying/);
    assert.match(result.stdout, /✗ chatty failed: .*SIGXFSZ/);
    const [run] = await listRuns(store);
    assert.equal(run?.result, "failed");
  });

  test("a step that ended within its timeout while rootstock was stopped (SIGSTOP) is judged by its status", async () => {
    const dir = await writePlan(join(work, "limit-stopped"), {
      steps: { nap: { toml: 'version = "1"\ntimeout = "3s"\n', script: "do_compile() { sleep 1; }\n" } },
    });
    const child = startRootstock(["--store", join(work, "limit-stopped-store"), "run", dir]);
    const done = finished(child);
    await untilOutput(child, "▶ nap");
    child.kill("SIGSTOP");
    // Longer than the timeout: the step ends meanwhile, and its timer is due when rootstock goes on.
    await new Promise((resolve) => setTimeout(resolve, 4500));
    child.kill("SIGCONT");
    const result = await done;
    assert.equal(result.code, 0, result.stdout);
    assert.match(result.stdout, /✓ nap/);
  });
});
