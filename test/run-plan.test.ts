/**
 * Cold build, no-op rerun, editing one step, --explain, missing sources: real plans with tarballs and C
 * programs built by the host's gcc under bwrap.
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { runPlan } from "../src/build/run-plan.ts";
import { RunSession } from "../src/build/run-session.ts";
import { RootstockErrors } from "../src/errors.ts";
import type { RootstockEvent } from "../src/events.ts";
import { writeReports } from "../src/report/write-reports.ts";
import { computeManifest } from "../src/store/manifest.ts";
import { OutputStore, outputPath } from "../src/store/output-store.ts";
import { readRunRecord } from "../src/store/run-record.ts";
import {
  admit,
  makeTarball,
  resolve,
  sourceToml,
  type Tarball,
  type Workbench,
  workbench,
  writePlan,
} from "./helpers/fixture-plan.ts";

let bench: Workbench;
let planDir: string;
let hello: Tarball;
let flat: Tarball;

const HELLO_C = '#include <stdio.h>\nint main(void) { puts("hello, world"); return 0; }\n';
const MAKEFILE = [
  "all: hello",
  "hello: hello.c",
  "\t$(CC) -static -O2 -o hello hello.c",
  "install:",
  "\tmkdir -p $(DESTDIR)/usr/bin && cp hello $(DESTDIR)/usr/bin/hello",
  "",
].join("\n");
const PATCH = `--- a/hello.c
+++ b/hello.c
@@ -1,2 +1,2 @@
 #include <stdio.h>
-int main(void) { puts("hello, world"); return 0; }
+int main(void) { puts("hello, patched world"); return 0; }
`;

function steps(overrides: { userScript?: string; patch?: string } = {}) {
  return {
    hello: {
      toml: `version = "1.0"\n${sourceToml(hello)}`,
      patches: { "01-greeting.patch": overrides.patch ?? PATCH },
    },
    flat: {
      toml: `version = "1"\n${sourceToml(flat)}`,
      script: 'do_install() { ls "$SRC" > "$OUT/listing"; cat "$SRC/dir/inner.txt" >> "$OUT/listing"; }\n',
    },
    user: {
      toml: 'version = "1"\ndeps = ["hello"]\n',
      script:
        overrides.userScript ??
        'do_install() { mkdir -p "$OUT/share"; "$DEP_HELLO/usr/bin/hello" > "$OUT/share/message"; }\n',
    },
    lone: { script: 'do_install() { echo "$ROOTSTOCK_STEP $JOBS $PWD" > "$OUT/lone"; }\n' },
  };
}

before(async () => {
  bench = await workbench();
  hello = await makeTarball(
    bench.dir,
    "hello-1.0.tar.gz",
    { "hello.c": HELLO_C, Makefile: MAKEFILE },
    { top: "hello-1.0" },
  );
  // Like the tcc orig tarball: no top-level folder.
  flat = await makeTarball(bench.dir, "flat.tar.gz", {
    "a.txt": "a\n",
    "b.txt": "b\n",
    "dir/inner.txt": "inner\n",
  });
  planDir = await writePlan(join(bench.dir, "plan"), { steps: steps() });
});
after(() => bench.remove());

function collect() {
  const events: RootstockEvent[] = [];
  return {
    events,
    emit: (event: RootstockEvent) => events.push(event),
    of: <T extends RootstockEvent["type"]>(type: T) =>
      events.filter((event): event is Extract<RootstockEvent, { type: T }> => event.type === type),
  };
}

test("a run with a missing source fails before building, listing every missing source", async () => {
  const graph = await resolve(planDir);
  // Without --offline, run fetches what is missing: here nothing can be reached, and it says so for each.
  const unavailable = await runPlan(graph, { storeDir: bench.storeDir, jobs: 2 }).catch(
    (caught: unknown) => caught,
  );
  assert.ok(unavailable instanceof RootstockErrors);
  assert.equal(unavailable.code, "ERR_SOURCES_UNAVAILABLE");
  assert.match(
    unavailable.errors.map((inner) => inner.message).join("\n"),
    /hello-1\.0\.tar\.gz[\s\S]*flat\.tar\.gz/,
  );
  // The run it ended says why, in run.json and both reports, and the error points at the report.
  const report = unavailable.report ?? "";
  assert.match(report, /report\.html$/);
  const runDir = join(report, "..");
  const record = await readRunRecord(runDir);
  assert.equal(record?.state, "failed");
  assert.equal(record?.error?.code, "ERR_SOURCES_UNAVAILABLE");
  assert.match(
    record?.error?.details?.join("\n") ?? "",
    /hello-1\.0\.tar\.gz[^\n]*\[ERR_SOURCE_UNAVAILABLE\]/,
  );
  const markdown = await readFile(join(runDir, "report.md"), "utf8");
  assert.match(
    markdown,
    /\* Result: failure: 2 sources could not be obtained \[ERR_SOURCES_UNAVAILABLE\]\n {2}\* step /,
  );
  assert.match(markdown, /hello 1\.0: not run: the run stopped before it: 2 sources could not be obtained/);
  assert.match(await readFile(report, "utf8"), /Why the run stopped[\s\S]*flat\.tar\.gz/);
  // --keep-going builds what needs none of them; a step that needs one fails, saying why, in its log too.
  const seen = collect();
  const going = await runPlan(graph, {
    storeDir: join(bench.dir, "keep-going-store"),
    jobs: 2,
    keepGoing: true,
    offline: true,
    emit: seen.emit,
  });
  assert.equal(going.ok, false);
  assert.deepEqual(going.built, ["lone"]);
  assert.deepEqual([...going.failed].sort(), ["flat", "hello"]);
  assert.deepEqual(
    going.skipped.map((skip) => [skip.name, skip.because]),
    [["user", "depends on hello, which failed"]],
  );
  const failed = seen.of("step:failed").find((event) => event.step === "hello");
  assert.match(failed?.reason ?? "", /^a source could not be obtained: step hello: hello-1\.0\.tar\.gz/);
  assert.equal(failed?.noSandbox, true);
  assert.match(await readFile(failed?.log ?? "", "utf8"), /a source of hello could not be obtained\n/);
  const error = await runPlan(graph, { storeDir: bench.storeDir, jobs: 2, offline: true }).catch(
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof RootstockErrors);
  assert.equal(error.code, "ERR_SOURCES_MISSING");
  assert.equal(error.errors.length, 2);
  assert.match(
    error.errors.map((inner) => inner.message).join("\n"),
    /hello-1\.0\.tar\.gz[\s\S]*flat\.tar\.gz/,
  );
  assert.match(error.hint ?? "", /rootstock fetch/);
});

test("cold build: every step runs in its sandbox and its output is committed under its key", async () => {
  await admit(bench.storeDir, hello);
  await admit(bench.storeDir, flat);
  const graph = await resolve(planDir);
  const seen = collect();
  const result = await runPlan(graph, { storeDir: bench.storeDir, jobs: 2, emit: seen.emit });
  assert.equal(result.ok, true, JSON.stringify(seen.of("step:failed")));
  assert.deepEqual([...result.built].sort(), ["flat", "hello", "lone", "user"]);
  assert.deepEqual(result.cached, []);

  const helloOut = result.outputs.get("hello");
  assert.equal(helloOut?.path, outputPath(bench.storeDir, graph.byName.get("hello")?.key as string));
  assert.equal(
    await readFile(join(result.outputs.get("user")?.path as string, "share", "message"), "utf8"),
    "hello, patched world\n",
    "the patch was applied, the program built by make, and the dependency used through $DEP_HELLO",
  );
  assert.equal(
    await readFile(join(result.outputs.get("flat")?.path as string, "listing"), "utf8"),
    "a.txt\nb.txt\ndir\ninner\n",
    "an archive without a top folder is unpacked as it is",
  );
  assert.equal(
    await readFile(join(result.outputs.get("lone")?.path as string, "lone"), "utf8"),
    "lone 2 /build\n",
  );

  // The entry's record and manifest describe the tree that is there.
  const store = new OutputStore(bench.storeDir);
  const record = await store.record(graph.byName.get("hello")?.key as string);
  assert.equal(record?.runId, result.runId);
  assert.deepEqual(record?.digest, (await computeManifest(helloOut?.path as string)).digest);
  const done = seen.of("step:done").find((event) => event.step === "hello");
  assert.equal(done?.digest, record?.digest.sha256);

  // The run folder describes itself.
  const run = await readRunRecord(result.runDir);
  assert.equal(run?.state, "ok");
  assert.deepEqual(run?.keys, Object.fromEntries(graph.steps.map((step) => [step.name, step.key])));
  const journal = (await readFile(join(result.runDir, "journal.jsonl"), "utf8"))
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line));
  const types = journal.map((event) => event.type).filter((type) => !type.startsWith("fetch:"));
  assert.deepEqual(types.slice(0, 3), ["run:context", "run:start", "run:schedule"]);
  assert.deepEqual(types.slice(-3), ["run:done", "run:tools", "run:end"]);
  assert.ok(journal.every((event) => typeof event.time === "number"));
  // The tools rootstock ran itself, which no key names, are identified as the seeds are.
  const toolsRun = journal.find((event) => event.type === "run:tools").tools;
  assert.deepEqual(
    toolsRun.map((tool: { name: string }) => tool.name),
    ["bwrap", "gzip", "patch", "tar"],
  );
  assert.ok(
    toolsRun.every(
      (tool: { sha256: string; path: string }) =>
        /^[0-9a-f]{64}$/.test(tool.sha256) && tool.path.startsWith("/"),
    ),
  );
  const context = journal.find((event) => event.type === "run:context").context;
  assert.ok(
    context.seeds.some(
      (seed: { name: string; sha256: string }) => seed.name === "gcc" && /^[0-9a-f]{64}$/.test(seed.sha256),
    ),
  );
  assert.deepEqual(
    context.steps.map((step: { name: string; key: string }) => [step.name, step.key]),
    graph.steps.map((step) => [step.name, step.key]),
  );
  // Every run writes its reports from its events, as they would be read back from its journal.
  const markdown = await readFile(join(result.runDir, "report.md"), "utf8");
  assert.match(
    markdown,
    /^Automation: Fully automated: 4 steps \(this run built \d+, reused \d+ from the cache\), 0 manual$/m,
  );
  const html = await readFile(join(result.runDir, "report.html"), "utf8");
  assert.match(html, /<svg class="gantt"/);
  const fromJournal = await writeReports(result.runDir);
  assert.equal(await readFile(fromJournal.markdown, "utf8"), markdown);
  assert.equal(await readFile(fromJournal.html, "utf8"), html);
  const log = await readFile(join(result.runDir, "logs", "hello.log"), "utf8");
  assert.match(log, /applying patches\/01-greeting.patch/);
  assert.match(log, /==> rootstock: compile/);
  assert.match(markdown, /^Tools rootstock ran itself: [^\n]*\n\n\| tool \| path \| version \| sha256 \|/m);
  assert.match(markdown, /^\| tar \| \/[^|]+ \| tar \(GNU tar\) [^|]+ \| `[0-9a-f]{64}` \|$/m);
  assert.match(html, /<h2>Tools rootstock ran<\/h2>/);
});

test("no-op rerun: nothing runs", async () => {
  const graph = await resolve(planDir);
  const seen = collect();
  const result = await runPlan(graph, { storeDir: bench.storeDir, jobs: 2, emit: seen.emit });
  assert.equal(result.ok, true);
  assert.deepEqual(result.built, []);
  assert.deepEqual([...result.cached].sort(), ["flat", "hello", "lone", "user"]);
  assert.equal(seen.of("step:start").length, 0);
  assert.equal(result.outputs.size, 4);
  // Nothing unpacked, sandboxed or imaged: no tool to name, and nothing spent on identifying one.
  assert.equal(seen.of("run:tools").length, 0);
  assert.doesNotMatch(await readFile(join(result.runDir, "report.md"), "utf8"), /Tools rootstock ran/);
});

test("editing one step rebuilds it and its dependents only, and --explain says which input changed", async () => {
  await writePlan(planDir, { steps: steps({ patch: PATCH.replaceAll("patched world", "edited world") }) });
  const graph = await resolve(planDir);
  const seen = collect();
  const result = await runPlan(graph, { storeDir: bench.storeDir, jobs: 2, emit: seen.emit, explain: true });
  assert.equal(result.ok, true);
  assert.deepEqual([...result.built].sort(), ["hello", "user"]);
  assert.deepEqual([...result.cached].sort(), ["flat", "lone"]);
  const explained = Object.fromEntries(seen.of("step:explain").map((event) => [event.step, event.reason]));
  assert.deepEqual(explained.hello, { kind: "changed", inputs: ["patch:01-greeting.patch"] });
  assert.deepEqual(explained.user, { kind: "changed", inputs: ["dep:hello"] });
  assert.deepEqual(explained.flat, { kind: "cached" });
  assert.equal(
    await readFile(join(result.outputs.get("user")?.path as string, "share", "message"), "utf8"),
    "hello, edited world\n",
  );

  // Editing the leaf's script: only the leaf.
  await writePlan(planDir, {
    steps: steps({
      patch: PATCH.replaceAll("patched world", "edited world"),
      userScript:
        'do_install() { mkdir -p "$OUT/share"; "$DEP_HELLO/usr/bin/hello" | tr a-z A-Z > "$OUT/share/message"; }\n',
    }),
  });
  const again = await runPlan(await resolve(planDir), { storeDir: bench.storeDir, jobs: 2 });
  assert.deepEqual(again.built, ["user"]);
});

test("--dry-run explains without building or leaving a run folder", async () => {
  await writeFile(
    join(planDir, "steps", "lone", "build.sh"),
    'do_install() { echo changed > "$OUT/lone"; }\n',
  );
  const seen = collect();
  const result = await runPlan(await resolve(planDir), {
    storeDir: bench.storeDir,
    dryRun: true,
    emit: seen.emit,
  });
  assert.deepEqual(result.built, []);
  assert.equal(result.runDir, "");
  const lone = seen.of("step:explain").find((event) => event.step === "lone");
  assert.deepEqual(lone?.reason, { kind: "changed", inputs: ["script"] });
  assert.equal(lone?.runs, true);
});

test("--explain says what became of the last build with the same inputs: failed, or built and removed", async () => {
  const dir = await writePlan(join(bench.dir, "explain-before"), {
    name: "explain-before",
    steps: { flaky: { script: 'do_install() { [ -e /build/never ] || exit 3; echo ok > "$OUT/ok"; }\n' } },
  });
  const explain = async () => {
    const seen = collect();
    await runPlan(await resolve(dir), { storeDir: bench.storeDir, dryRun: true, emit: seen.emit });
    return seen.of("step:explain")[0]?.reason;
  };
  assert.deepEqual(await explain(), { kind: "no-entry" });
  const failed = await runPlan(await resolve(dir), { storeDir: bench.storeDir, jobs: 1 });
  assert.deepEqual(failed.failed, ["flaky"]);
  assert.deepEqual(await explain(), { kind: "no-entry", before: { outcome: "failed", runId: failed.runId } });

  await writeFile(join(dir, "steps", "flaky", "build.sh"), 'do_install() { echo ok > "$OUT/ok"; }\n');
  const built = await runPlan(await resolve(dir), { storeDir: bench.storeDir, jobs: 1 });
  assert.deepEqual(built.built, ["flaky"]);
  const graph = await resolve(dir);
  await new OutputStore(bench.storeDir).evict(graph.steps[0]?.key as string);
  assert.deepEqual(await explain(), { kind: "no-entry", before: { outcome: "removed", runId: built.runId } });
});

test("--explain compares with the nearest recent build, names the settings that changed, and knows an earlier key's entry was removed", async () => {
  const dir = join(bench.dir, "explain-nearest");
  const write = (word: string, version: string, env = "one") =>
    writePlan(dir, {
      name: "explain-nearest",
      steps: {
        word: {
          toml: `version = "${version}"\n[env]\nWORD = "${env}"\n`,
          script: `do_install() { echo ${word} "$WORD" > "$OUT/word"; }\n`,
        },
      },
    });
  const explain = async () => {
    const seen = collect();
    await runPlan(await resolve(dir), { storeDir: bench.storeDir, dryRun: true, emit: seen.emit });
    return seen.of("step:explain")[0]?.reason;
  };
  const build = async () => (await runPlan(await resolve(dir), { storeDir: bench.storeDir, jobs: 1 })).runId;
  await write("one", "1");
  const first = await build();
  await write("two", "1");
  await build();
  // Back to the first script: cached. Then a new version: only the version differs from that build.
  await write("one", "1");
  assert.deepEqual(await explain(), { kind: "cached" });
  await write("one", "2");
  assert.deepEqual(await explain(), { kind: "changed", inputs: ["version"] });
  await write("one", "2", "uno");
  assert.deepEqual(await explain(), { kind: "changed", inputs: ["env.WORD", "version"] });
  // The first build's entry, gone: its inputs are back, so the removal is the reason.
  await write("one", "1");
  await new OutputStore(bench.storeDir).evict((await resolve(dir)).steps[0]?.key as string);
  assert.deepEqual(await explain(), { kind: "no-entry", before: { outcome: "removed", runId: first } });
});

test("a patch the source already has is refused, not quietly reversed; editor leftovers are no patches", async () => {
  const patched = await makeTarball(
    bench.dir,
    "hello-1.1.tar.gz",
    { "hello.c": HELLO_C.replace("hello, world", "hello, patched world"), Makefile: MAKEFILE },
    { top: "hello-1.1" },
  );
  await admit(bench.storeDir, patched);
  const dir = await writePlan(join(bench.dir, "merged-upstream"), {
    name: "merged-upstream",
    steps: {
      hello: { toml: `version = "1.1"\n${sourceToml(patched)}`, patches: { "01-greeting.patch": PATCH } },
    },
  });
  const seen = collect();
  const result = await runPlan(await resolve(dir), { storeDir: bench.storeDir, jobs: 1, emit: seen.emit });
  assert.equal(result.ok, false);
  const [failed] = seen.of("step:failed");
  assert.match(failed?.reason ?? "", /patches\/01-greeting\.patch does not apply/);
  assert.ok(failed?.tail.some((line) => /Reversed \(or previously applied\) patch detected/.test(line)));

  // An editor's backup of the patch, which would undo it, is not applied; the patch alone is.
  const reverse = PATCH.replace(/^-int/m, "+INT")
    .replace(/^\+int/m, "-int")
    .replace(/^\+INT/m, "+int");
  const tidy = await writePlan(join(bench.dir, "with-backup"), {
    name: "with-backup",
    steps: {
      hello: {
        toml: `version = "1.0"\n${sourceToml(hello)}`,
        patches: { "01-greeting.patch": PATCH, "01-greeting.patch~": reverse, ".01-greeting.patch.swp": "x" },
      },
    },
  });
  const graph = await resolve(tidy);
  assert.deepEqual(
    graph.byName.get("hello")?.step.patches.map((patch) => patch.path),
    ["01-greeting.patch"],
  );
});

test("two builds in one session each report their own work, and the run's record and report add up", async () => {
  const dir = await writePlan(join(bench.dir, "session-twice"), {
    name: "twice",
    steps: { a: {}, b: { toml: 'version = "1"\ndeps = ["a"]\n' } },
  });
  const graph = await resolve(dir);
  const storeDir = join(bench.dir, "session-store");
  // A jobs value that is no count is refused, not a scheduler that never starts a step.
  for (const jobs of [Number.NaN, 0, 1.5, Number.POSITIVE_INFINITY])
    await assert.rejects(runPlan(graph, { storeDir, jobs }), { code: "ERR_RUN_BAD_JOBS" });
  const session = await RunSession.open(graph, { storeDir, jobs: 2, tools: new Map() });
  const first = await runPlan(graph, { storeDir, session, jobs: 2 });
  const second = await runPlan(graph, { storeDir, session, jobs: 2 });
  assert.deepEqual([...first.built].sort(), ["a", "b"]);
  assert.deepEqual(second.built, []);
  assert.deepEqual([...second.cached].sort(), ["a", "b"]);
  await session.close({ ok: true });
  const record = await readRunRecord(session.runDir);
  assert.deepEqual([...(record?.built ?? [])].sort(), ["a", "b"]);
  assert.deepEqual(record?.cached, []);
  const markdown = await readFile(join(session.runDir, "report.md"), "utf8");
  assert.match(markdown, /this run built 2, reused 0 from the cache/);
});
