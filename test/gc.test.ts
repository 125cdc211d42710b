/** gc removes what no recent run used, lists it with --dry-run, and spares what a running build holds. */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { mkdir, readdir, rm, stat, utimes, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { after, before, test } from "node:test";
import { runPlan } from "../src/build/run-plan.ts";
import { RunSession } from "../src/build/run-session.ts";
import { bundleTmpDir, scratchLockName } from "../src/netboot/build-bundle.ts";
import { BundleStore } from "../src/netboot/bundle-store.ts";
import { listRuns } from "../src/report/list-runs.ts";
import { collectGarbage } from "../src/store/collect-garbage.ts";
import { OutputStore } from "../src/store/output-store.ts";
import { newRunId, processStart, writeRunRecord } from "../src/store/run-record.ts";
import { StoreLocks } from "../src/store/store-locks.ts";
import { runRecord } from "./fixtures/run-record.ts";
import { resolve, type Workbench, workbench, writePlan } from "./helpers/fixture-plan.ts";
import { finished, ROOTSTOCK, rootstock, startRootstock } from "./helpers/rootstock-process.ts";

let bench: Workbench;
before(async () => {
  bench = await workbench();
});
after(() => bench.remove());

const plan = (text: string) => ({
  name: "gc",
  steps: {
    a: { script: `do_install() { echo ${text} > "$OUT/a"; }\n` },
    b: { toml: 'version = "1"\ndeps = ["a"]\n', script: 'do_install() { cat "$DEP_A/a" > "$OUT/b"; }\n' },
  },
});

/** Two runs of one plan, edited between them, into a store of their own: four entries, two runs. */
async function twoRuns(name: string) {
  const storeDir = join(bench.dir, `store-${name}`);
  const planDir = join(bench.dir, `${name}-plan`);
  await writePlan(planDir, plan("one"));
  const first = await runPlan(await resolve(planDir), { storeDir });
  await writePlan(planDir, plan("two"));
  const second = await runPlan(await resolve(planDir), { storeDir });
  return { storeDir, first, second };
}

test("gc keeps what the last runs used and removes the rest; --dry-run only lists", async () => {
  const { storeDir, first, second } = await twoRuns("1");
  const outputs = new OutputStore(storeDir);
  const oldKeys = [...first.outputs.values()].map((output) => output.key).sort();
  const newKeys = [...second.outputs.values()].map((output) => output.key).sort();
  assert.equal((await outputs.keys()).length, 4);

  const dry = await rootstock([
    "--store",
    storeDir,
    "gc",
    "--dry-run",
    "--keep-runs",
    "1",
    "--keep-days",
    "0",
  ]);
  assert.equal(dry.code, 0, dry.stderr);
  for (const key of oldKeys) assert.match(dry.stdout, new RegExp(`would remove entry ${key}`));
  assert.match(dry.stdout, new RegExp(`would remove run   ${first.runId}`));
  assert.doesNotMatch(dry.stdout, new RegExp(second.runId));
  assert.equal((await outputs.keys()).length, 4, "a dry run removes nothing");
  const dryResult = await collectGarbage(storeDir, { keepRuns: 1, keepDays: 0, dryRun: true });

  const result = await collectGarbage(storeDir, { keepRuns: 1, keepDays: 0 });
  assert.deepEqual(
    result.removed
      .filter((removal) => removal.what === "entry")
      .map((removal) => removal.name)
      .sort(),
    oldKeys,
  );
  assert.deepEqual((await outputs.keys()).sort(), newKeys);
  // A dry run counts what the real one removes, byte for byte.
  const sizes = (removals: typeof result.removed) =>
    removals.filter((removal) => removal.what === "entry").map((removal) => [removal.name, removal.bytes]);
  assert.deepEqual(sizes(dryResult.removed).sort(), sizes(result.removed).sort());
  await assert.rejects(stat(first.runDir));
  assert.ok(await stat(second.runDir));

  // Recent by age: a week of runs is kept whatever their number.
  const byAge = await collectGarbage(storeDir, { keepRuns: 0, keepDays: 7, dryRun: true });
  assert.deepEqual(byAge.removed, []);
});

test("gc spares the folder of a run that starts while it works", async () => {
  const storeDir = join(bench.dir, "store-3");
  const planDir = join(bench.dir, "gc-late");
  await writePlan(planDir, plan("late"));
  const old = await runPlan(await resolve(planDir), { storeDir });
  // Registered as this live process once gc has listed the runs, as its first entry goes.
  const lateDir = join(storeDir, "runs", newRunId());
  let registered = false;
  const result = await collectGarbage(storeDir, {
    keepRuns: 0,
    keepDays: 0,
    emit: (event) => {
      if (event.type !== "gc:remove" || registered) return;
      registered = true;
      mkdirSync(lateDir, { recursive: true });
      writeRunRecord(
        lateDir,
        runRecord({
          runId: basename(lateDir),
          plan: "late",
          planDir,
          processStart: processStart(process.pid),
        }),
      );
    },
  });
  assert.ok(registered);
  assert.deepEqual(
    result.removed.filter((removal) => removal.what === "run").map((removal) => removal.name),
    [old.runId],
  );
  assert.ok(await stat(lateDir), "the late run's folder stays");
});

test("gc spares a new run folder whose run.json is not written yet, not an old one", async () => {
  const storeDir = join(bench.dir, "store-4");
  const registering = join(storeDir, "runs", newRunId());
  const abandoned = join(storeDir, "runs", newRunId(new Date(Date.now() - 3_600_000)));
  for (const dir of [registering, abandoned]) await mkdir(join(dir, "logs"), { recursive: true });
  const hourAgo = new Date(Date.now() - 3_600_000);
  await utimes(abandoned, hourAgo, hourAgo);
  const result = await collectGarbage(storeDir, { keepRuns: 0, keepDays: 0 });
  assert.deepEqual(
    result.removed.map((removal) => [removal.what, removal.name]),
    [["run", basename(abandoned)]],
  );
  assert.ok(await stat(registering));
});

test("a recent run whose run.json is damaged keeps its entries, by its journal; with both damaged, none goes", async () => {
  const { storeDir, first } = await twoRuns("damaged");
  const firstKeys = [...first.outputs.values()].map((output) => output.key);
  const age = new Date(Date.now() - 3_600_000);
  await utimes(first.runDir, age, age);
  await writeFile(join(first.runDir, "run.json"), "");
  const kept = await collectGarbage(storeDir, { keepRuns: 2, keepDays: 0, dryRun: true });
  assert.deepEqual(kept.removed, [], "the journal names the first run's entries");
  await writeFile(join(first.runDir, "journal.jsonl"), "garbage\n");
  const blocked = await collectGarbage(storeDir, { keepRuns: 2, keepDays: 0 });
  assert.deepEqual(blocked.removed, []);
  assert.equal(blocked.failed[0]?.error.code, "ERR_GC_RUN_DAMAGED");
  assert.match(blocked.failed[0]?.error.message ?? "", /run\.json and journal are both unreadable/);
  const outputs = new OutputStore(storeDir);
  for (const key of firstKeys) assert.ok((await outputs.keys()).includes(key));
  // Once it is no longer recent, it goes like any older run, and so do its entries.
  const older = await collectGarbage(storeDir, { keepRuns: 1, keepDays: 0 });
  assert.deepEqual(older.failed, []);
  assert.ok(older.removed.some((removal) => removal.what === "run" && removal.name === first.runId));
  for (const key of firstKeys) assert.ok(!(await outputs.keys()).includes(key));
});

test("gc never touches the entries and folders of a running build", async () => {
  const storeDir = join(bench.dir, "store-2");
  const gate = join(bench.dir, "gc-gate");
  const planDir = await writePlan(join(bench.dir, "gc-live"), {
    name: "gc-live",
    steps: {
      base: { script: 'do_install() { echo base > "$OUT/base"; }\n' },
      gated: {
        toml: `version = "1"\nsandbox = "host"\ndeps = ["base"]\n[env]\nGATE = "${gate}"\n`,
        script:
          'do_compile() { while [ ! -e "$GATE" ]; do sleep 0.05; done; cat "$DEP_BASE/base" > "$OUT/seen"; }\n',
      },
    },
  });
  // An earlier run built base; the live run below finds it cached and holds it while it waits.
  await runPlan(await resolve(planDir, { targets: ["base"] }), { storeDir });
  const live = startRootstock(["--store", storeDir, "run", planDir, "--json"]);
  const closed = finished(live);
  await new Promise<void>((resolveStarted, reject) => {
    let text = "";
    live.stdout?.on("data", (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('"type":"step:start","step":"gated"')) resolveStarted();
    });
    live.on("close", () => reject(new Error("the run ended early")));
  });

  const listed = await listRuns(storeDir);
  assert.deepEqual(
    listed.map((run) => run.result),
    ["running", "passed"],
    "rootstock runs shows the live run as running",
  );
  const result = await collectGarbage(storeDir, { keepRuns: 0, keepDays: 0 });
  const graph = await resolve(planDir);
  const outputs = new OutputStore(storeDir);
  assert.ok(
    await outputs.has(graph.byName.get("base")?.key as string),
    "the live run's cached dependency stays",
  );
  assert.deepEqual(
    result.removed.map((removal) => removal.what),
    ["run"],
    "only the earlier run's folder goes",
  );
  const runs = await readdir(join(storeDir, "runs"));
  assert.equal(runs.length, 1, "the live run's folder stays");
  assert.equal((await readdir(join(storeDir, "work"))).length, 1, "the live run's work folder stays");

  await writeFile(gate, "");
  const done = await closed;
  assert.equal(done.code, 0, done.stderr);
});

test("gc removes netboot bundles that no kept run lists, and assembly folders no live process holds", async () => {
  const storeDir = join(bench.dir, "store-3");
  const planDir = await writePlan(join(bench.dir, "gc-netboot"), {
    name: "gc-netboot",
    steps: { a: { script: 'do_install() { echo a > "$OUT/a"; }\n' } },
  });
  const bundles = new BundleStore(storeDir);
  const key = (fill: string) => fill.repeat(64);
  for (const bundle of [key("a"), key("b")]) {
    await mkdir(bundles.dir(bundle), { recursive: true });
    await writeFile(join(bundles.dir(bundle), "vmlinuz"), "kernel");
  }
  // An older run served bundle b; the newest serves a.
  for (const served of [key("b"), key("a")]) {
    const session = await RunSession.open(await resolve(planDir), { storeDir, jobs: 1, tools: new Map() });
    await session.useEntries("netboot", { system: served });
    await session.close({ ok: true });
  }
  const tmp = bundleTmpDir(storeDir);
  await mkdir(join(tmp, "dead.0001"), { recursive: true });
  await mkdir(join(tmp, `evicted.${key("c")}.0002`), { recursive: true });
  // A process assembling a bundle holds its folder's lock: that folder stays.
  await mkdir(join(tmp, "live.0003"), { recursive: true });
  const lock = await new StoreLocks(storeDir).tryAcquire(scratchLockName("live.0003"), {
    runId: "",
    pid: process.pid,
    what: "a bundle",
  });
  try {
    const dry = await collectGarbage(storeDir, { keepRuns: 1, keepDays: 0, dryRun: true });
    // The disk space it frees, as du counts it (blocks, not the 6 bytes its file holds).
    const onDisk = Number(
      execFileSync("du", ["-sB1", bundles.dir(key("b"))], { encoding: "utf8" }).split("\t")[0],
    );
    assert.deepEqual(
      dry.removed
        .filter((removal) => removal.what === "bundle")
        .map((removal) => [removal.name, removal.bytes]),
      [[key("b"), onDisk]],
    );
    assert.deepEqual((await bundles.keys()).sort(), [key("a"), key("b")], "a dry run removes nothing");

    const result = await collectGarbage(storeDir, { keepRuns: 1, keepDays: 0 });
    assert.deepEqual(
      result.removed
        .filter((removal) => removal.what !== "run")
        .map((removal) => [removal.what, removal.name])
        .sort(),
      [
        ["bundle", key("b")],
        ["tmp", join("netboot", "tmp", "dead.0001")],
        ["tmp", join("netboot", "tmp", `evicted.${key("c")}.0002`)],
      ],
    );
    assert.deepEqual(await bundles.keys(), [key("a")]);
    assert.deepEqual(await readdir(tmp), ["live.0003"]);
  } finally {
    await lock?.release();
  }
});

test("gc refuses keep counts that are no number of at least 0", async () => {
  for (const options of [{ keepRuns: -1 }, { keepDays: Number.NaN }])
    await assert.rejects(collectGarbage(join(bench.dir, "store-bad-options"), options), {
      code: "ERR_GC_BAD_OPTION",
    });
});

test("gc removes sources a killed import or fetch was staging, not those of a live process", async () => {
  const storeDir = join(bench.dir, "store-staged");
  const tmp = join(storeDir, "sources", "tmp");
  await mkdir(tmp, { recursive: true });
  // Named as the source store stages them: NAME.PID-COUNTER-RANDOM, the pid in base 36.
  const dead = `big.bin.${(2 ** 22 + 1).toString(36)}-2-58b919c8`;
  const live = `other.bin.${process.pid.toString(36)}-1-0123abcd`;
  for (const name of [dead, live]) await writeFile(join(tmp, name), "staged\n");
  const result = await collectGarbage(storeDir, { keepRuns: 0, keepDays: 0 });
  assert.deepEqual(
    result.removed.map((removal) => [removal.what, removal.name]),
    [["tmp", `sources/tmp/${dead}`]],
  );
  assert.deepEqual(await readdir(tmp), [live]);
});

test("gc counts the disk space it frees: a sparse file's holes free nothing", async () => {
  const storeDir = join(bench.dir, "store-sparse");
  const planDir = await writePlan(join(bench.dir, "gc-sparse"), {
    name: "gc-sparse",
    steps: { sparse: { script: 'do_install() { truncate -s 1G "$OUT/sparse"; echo x > "$OUT/small"; }\n' } },
  });
  const built = await runPlan(await resolve(planDir), { storeDir });
  assert.deepEqual(built.built, ["sparse"]);
  const dry = await collectGarbage(storeDir, { keepRuns: 0, keepDays: 0, dryRun: true });
  const entry = dry.removed.find((removal) => removal.what === "entry");
  assert.ok(
    entry && entry.bytes > 0 && entry.bytes < 1 << 20,
    `${entry?.bytes} bytes for a 1 GiB sparse file`,
  );
});

test("gc removes a fetch's lock on a partial download that a killed process left, and keeps a live one's", async () => {
  const storeDir = join(bench.dir, "store-partial-locks");
  const partials = join(storeDir, "sources", "partial");
  await mkdir(partials, { recursive: true });
  // A pid that was alive and is no more.
  const dead = spawnSync("true").pid as number;
  await writeFile(join(partials, `${"a".repeat(64)}.lock`), `${dead}\n`);
  await writeFile(join(partials, `${"b".repeat(64)}.lock`), `${process.pid}\n`);
  await writeFile(join(partials, `${"a".repeat(64)}.data`), "the partial itself stays, to resume");
  const result = await collectGarbage(storeDir, {});
  assert.deepEqual(
    result.removed.map((removal) => removal.name),
    [`sources/partial/${"a".repeat(64)}.lock`],
  );
  assert.deepEqual((await readdir(partials)).sort(), [`${"a".repeat(64)}.data`, `${"b".repeat(64)}.lock`]);
});

test("a gc stopped halfway keeps what a run may claim and leaves the rest to the next gc", async () => {
  const storeDir = join(bench.dir, "store-stopped");
  const planDir = await writePlan(join(bench.dir, "gc-stopped"), {
    name: "gc-stopped",
    steps: Object.fromEntries(
      ["a", "b", "c"].map((name) => [name, { script: `do_install() { echo ${name} > "$OUT/${name}"; }\n` }]),
    ),
  });
  await runPlan(await resolve(planDir), { storeDir });
  const outputs = new OutputStore(storeDir);
  assert.equal((await outputs.keys()).length, 3);
  // Stopped before it began: nothing is taken out.
  await assert.rejects(
    collectGarbage(storeDir, { keepRuns: 0, keepDays: 0, signal: AbortSignal.abort(new Error("stop")) }),
    /stop/,
  );
  assert.equal((await outputs.keys()).length, 3);
  // Stopped after its first removal: the others were checked against the live runs and wait in tmp/.
  const controller = new AbortController();
  await assert.rejects(
    collectGarbage(storeDir, {
      keepRuns: 0,
      keepDays: 0,
      signal: controller.signal,
      emit: (event) => {
        if (event.type === "gc:remove") controller.abort(new Error("stop"));
      },
    }),
    /stop/,
  );
  const again = await collectGarbage(storeDir, { keepRuns: 0, keepDays: 0 });
  assert.equal((await outputs.keys()).length, 0);
  assert.ok(again.removed.some((removal) => removal.what === "tmp" && removal.name.startsWith("evicted.")));
});

test("a dry run counts a file linked from a failed build's root as the real gc frees it: once", async () => {
  const storeDir = join(bench.dir, "store-links");
  const planDir = await writePlan(join(bench.dir, "gc-links"), {
    name: "gc-links",
    steps: {
      big: { script: 'do_install() { head -c 2000000 /dev/urandom > "$OUT/big"; }\n' },
      user: { toml: 'version = "1"\ndeps = ["big"]\nroot = "deps"\n', script: "do_install() { false; }\n" },
    },
  });
  const run = await runPlan(await resolve(planDir), { storeDir });
  assert.deepEqual(run.failed, ["user"]);
  const options = { keepRuns: 0, keepDays: 0 };
  const dry = await collectGarbage(storeDir, { ...options, dryRun: true });
  const real = await collectGarbage(storeDir, options);
  assert.ok(dry.bytes >= 2_000_000, `the dry run counts the 2 MB file: ${dry.bytes}`);
  assert.ok(Math.abs(dry.bytes - real.bytes) < 200_000, `dry ${dry.bytes} against real ${real.bytes}`);
});

test("gc leaves a live process's exec probe in tmp/, and a run's run.json says it ended only once its reports are written", async () => {
  const storeDir = join(bench.dir, "probe-store");
  const tmp = join(storeDir, "tmp");
  await mkdir(tmp, { recursive: true });
  // Pid 1 lives as long as the machine; the other is no process's.
  await writeFile(join(tmp, "exec-probe.1"), "#!/bin/sh\n");
  await writeFile(join(tmp, "exec-probe.2147483646"), "#!/bin/sh\n");
  await collectGarbage(storeDir);
  assert.deepEqual(await readdir(tmp), ["exec-probe.1"]);

  // Until run.json says how it ended, a run is live to gc: so it is written last.
  const planDir = await writePlan(join(bench.dir, "closing-order"), {
    steps: { a: { script: 'do_install() { echo a > "$OUT/a"; }\n' } },
  });
  const result = await runPlan(await resolve(planDir), { storeDir, jobs: 1 });
  const [record, report] = await Promise.all(
    ["run.json", "report.html"].map((name) => stat(join(result.runDir, name), { bigint: true })),
  );
  assert.ok((record?.mtimeNs ?? 0n) >= (report?.mtimeNs ?? 0n), "run.json was written after the reports");
});

test("gc removes the plan cache of a plan folder that is gone, and keeps the others", async () => {
  const storeDir = join(bench.dir, "plan-cache-store");
  const kept = await writePlan(join(bench.dir, "cached-kept"), { steps: { a: {} } });
  const gone = await writePlan(join(bench.dir, "cached-gone"), { steps: { a: {} } });
  // The cache keeps no listing of files changed in the last 2 s: they may still be being written.
  await new Promise((resolve) => setTimeout(resolve, 2100));
  for (const dir of [kept, gone]) assert.equal((await rootstock(["--store", storeDir, "run", dir])).code, 0);
  const caches = join(storeDir, "cache", "plans");
  assert.equal((await readdir(caches)).length, 2);
  await rm(gone, { recursive: true, force: true });
  await collectGarbage(storeDir);
  assert.deepEqual(await readdir(caches), [`${encodeURIComponent(kept)}.json`]);
});

/** Why an overlay mount in a private mount namespace cannot be made here, or undefined when it can. */
function noOverlay(): string | undefined {
  if (process.getuid?.() !== 0) return "mounting an overlay needs root";
  const probe = spawnSync("unshare", ["-m", "--propagation", "private", "true"]);
  return probe.status === 0 ? undefined : "unshare -m is refused here";
}

test("gc removes entries of an overlay's lower layer, which it cannot rename out: marker first, then the rest", {
  skip: noOverlay(),
}, async () => {
  const { storeDir, second } = await twoRuns("overlay");
  const newKeys = [...second.outputs.values()].map((output) => output.key).sort();
  const layers = join(bench.dir, "overlay-layers");
  const merged = join(bench.dir, "overlay-store");
  await mkdir(layers);
  await mkdir(merged);
  // The overlay lives as long as this shell: gc runs through it, then what the store holds is listed.
  const script = `set -e
mount -t tmpfs tmpfs "$2"
mkdir "$2/upper" "$2/work"
mount -t overlay overlay -o "lowerdir=$1,upperdir=$2/upper,workdir=$2/work,redirect_dir=off" "$3"
"$4" "$5" --store "$3" gc --keep-runs 1 --keep-days 0 >&2
ls "$3/outputs"`;
  const result = spawnSync(
    "unshare",
    [
      "-m",
      "--propagation",
      "private",
      "sh",
      "-c",
      script,
      "sh",
      storeDir,
      layers,
      merged,
      process.execPath,
      ROOTSTOCK,
    ],
    { encoding: "utf8" },
  );
  assert.equal(result.status, 0, result.stderr);
  assert.deepEqual(result.stdout.trim().split("\n").sort(), newKeys, "only the last run's entries are left");
  assert.match(result.stderr, /gc: removed \d+ items?/);
  // The lower layer is not touched: overlayfs hides what was removed with whiteouts in the upper one.
  assert.equal((await new OutputStore(storeDir).keys()).length, 4);
});
