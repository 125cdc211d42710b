/**
 * The README's main command, as a new user runs it: `rootstock demo` on the flagship plan, cold (or as
 * warm as the tests' shared store is), then again with everything cached. Its report is checked field
 * by field against what the run did, regenerated from the journal, listed by `rootstock runs`, and
 * opened in headless Chromium.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFile, realpath, rm } from "node:fs/promises";
import { cpus } from "node:os";
import { basename, resolve } from "node:path";
import { before, describe, test } from "node:test";
import { digestFile } from "../src/digest.ts";
import { loadPlan } from "../src/plan/load.ts";
import type { Plan } from "../src/plan/types.ts";
import { renderInChromium } from "./helpers/chromium.ts";
import { FLAGSHIP } from "./helpers/flagship-netboot.ts";
import { type CliResult, rootstock } from "./helpers/rootstock-process.ts";
import { sharedStoreDir } from "./helpers/shared-store.ts";

const storeDir = sharedStoreDir();
let plan: Plan;
let first: CliResult;
let runDir: string;

/** The run folder the demo printed (`report:  …/runs/RUN/report.html`), absolute. */
function runDirOf(stdout: string): string {
  const match = /^report: +(\S+)\/report\.html$/m.exec(stdout);
  assert.ok(match, `a report line in:\n${stdout}`);
  return resolve(match[1] as string);
}

/** report.md's `Name: value` lines, by name. */
function fields(markdown: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const line of markdown.split("\n")) {
    const match = /^([A-Z][A-Za-z ]+): (.*)$/.exec(line);
    if (match) found.set(match[1] as string, match[2] as string);
  }
  return found;
}

before(async () => {
  plan = await loadPlan(FLAGSHIP);
  first = await rootstock(["--store", storeDir, "demo"]);
  assert.equal(first.code, 0, `the demo failed:\n${first.stdout}\n${first.stderr}`);
  runDir = runDirOf(first.stdout);
});

describe("rootstock demo", () => {
  test("checks the host, fetches, builds, tests, and says where the results are", () => {
    const out = first.stdout;
    for (const heading of ["== 1/4 host", "== 2/4 sources", "== 3/4 build", "== 4/4 results"])
      assert.ok(out.includes(heading), `"${heading}" in:\n${out}`);
    const summary =
      /^demo: +passed in \S+: (\d+) steps? built, (\d+) from the cache, (\d+)\/(\d+) boot tests passed$/m.exec(
        out,
      );
    assert.ok(summary, out);
    assert.equal(Number(summary[1]) + Number(summary[2]), plan.steps.size);
    assert.equal(summary[3], summary[4]);
    assert.ok(Number(summary[4]) >= 5, "the flagship's boot tests ran");
    assert.match(out, /^junit: +\S+junit\.xml$/m);
    assert.match(out, /^console: +\S+console\.log$/m);
    // The build logs, when this run built something (a store made warm before has none to show).
    if (Number(summary[1]) > 0) assert.match(out, /^logs: +\S+logs$/m);
    else assert.doesNotMatch(out, /^logs:/m);
  });

  test("report.md states what the run did, in the list's fields", async () => {
    const markdown = await readFile(resolve(runDir, "report.md"), "utf8");
    const field = fields(markdown);
    const journal = (await readFile(resolve(runDir, "journal.jsonl"), "utf8"))
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    const results: { name: string; status: string }[] = JSON.parse(
      await readFile(resolve(runDir, "results.json"), "utf8"),
    );
    const built = journal.filter((event) => event.type === "step:done").length;
    const cached = journal.filter((event) => event.type === "step:cached").length;
    const images = new Set(
      journal
        .filter((event) => event.type === "image:done" || event.type === "image:cached")
        .map((event) => event.image),
    );
    // A netboot bundle is an image of its own, made or from the cache.
    const bundles = new Set(
      journal.filter((event) => event.type === "netboot:bundle").map((event) => event.image),
    );
    assert.ok(images.has("initramfs") && images.has("rootfs"), "the demo's tested images were made");
    // The README's promise: booted over the network into RAM too, with its tests.
    assert.ok(images.has("system"), "the netboot image was made");
    assert.ok(
      journal.some((event) => event.type === "test:done" && event.image === "system" && event.ok),
      "the netbooted system's tests ran and passed",
    );

    assert.equal(field.get("Upstream"), "not stated in the plan");
    assert.match(field.get("Bootstrapping documentation") ?? "", /README\.md/);
    // Each image and bundle by the last thing that became of it, as the report counts them.
    const imageCached = new Map<string, boolean>();
    const bundleCached = new Map<string, boolean>();
    for (const event of journal) {
      if (event.type === "image:done" || event.type === "image:cached")
        imageCached.set(event.image, event.type === "image:cached");
      if (event.type === "netboot:bundle") bundleCached.set(event.image, event.cached);
    }
    const reused = (map: Map<string, boolean>) => [...map.values()].filter(Boolean).length;
    // The plan's own images: the RAM root inside a bundle is no image of the plan.
    assert.deepEqual([...imageCached.keys()].sort(), [...plan.images.keys()].sort());
    assert.equal(
      field.get("Automation"),
      `Fully automated: ${plan.steps.size} steps (this run built ${built}, reused ${cached} from the cache), 0 manual, ${images.size} images (made ${images.size - reused(imageCached)}, reused ${reused(imageCached)} from the cache), ${bundles.size} netboot bundle${bundles.size === 1 ? "" : "s"} (made ${bundles.size - reused(bundleCached)}, reused ${reused(bundleCached)} from the cache)`,
    );
    assert.match(
      field.get("Integration testing") ?? "",
      new RegExp(
        `^${results.length} boot tests in QEMU under (TCG|KVM), ${results.length} passed, 0 failed — `,
      ),
    );
    for (const result of results) assert.ok(markdown.includes(`passed: ${result.name}`), result.name);
    assert.match(
      field.get("Can install further software from source") ?? "",
      /^Yes, tested: "compiles and runs a C program with its own tcc"/,
    );
    assert.match(field.get("What you get") ?? "", /self-hosting Linux .*images: initramfs \(initramfs, /);
    const head = execFileSync("git", ["rev-parse", "HEAD"], { cwd: FLAGSHIP, encoding: "utf8" }).trim();
    assert.match(
      field.get("Version") ?? "",
      new RegExp(
        `^plan tiny-linux \\(steps digest \\w+, in a git work tree at ${head.slice(0, 12)}, not checked that the plan is committed there as it is\\), rootstock `,
      ),
    );
    assert.equal(field.get("Architecture"), "x86_64");
    const started = journal.find((event) => event.type === "run:start").time;
    assert.equal(field.get("Date"), new Date(started).toISOString().slice(0, 10));
    const buildTime = field.get("Build time") ?? "";
    if (built === 0) {
      // A warm store: nothing was built, so no build time was measured.
      assert.match(
        buildTime,
        new RegExp(`^not measured in this run: all ${cached} steps came from the cache`),
      );
    } else {
      assert.ok(buildTime.includes(`on ${cpus()[0]?.model.trim()}, ${cpus().length} cores`), buildTime);
      for (const stage of plan.stages) assert.match(buildTime, new RegExp(`${stage.name} \\S+`));
    }
    for (const name of plan.steps.keys()) assert.match(markdown, new RegExp(`^  \\* ${name}[ :]`, "m"));
    assert.match(markdown, /^\* Result: success$/m);

    // Every host tool the plan declares is a binary seed, with the sha256 of the file that ran.
    const requirements = field.get("Requirements") ?? "";
    for (const tool of plan.hostTools) assert.match(requirements, new RegExp(`\\b${tool} \\(`), tool);
    const gcc = await realpath(execFileSync("sh", ["-c", "command -v gcc"], { encoding: "utf8" }).trim());
    const row = markdown.split("\n").find((line) => line.startsWith("| gcc |"));
    assert.ok(row?.includes(gcc), `the gcc seed names ${gcc}: ${row}`);
    assert.ok(row?.includes(`\`${(await digestFile(gcc)).sha256}\``), "and its sha256");
  });

  test("rootstock runs lists it, and rootstock report writes the same reports from its journal", async () => {
    const runId = basename(runDir);
    const runs = await rootstock(["--store", storeDir, "runs"]);
    assert.equal(runs.code, 0, runs.stderr);
    assert.match(runs.stdout, new RegExp(`tiny-linux +demo +passed .*${runId}`));

    const markdown = await readFile(resolve(runDir, "report.md"), "utf8");
    const html = await readFile(resolve(runDir, "report.html"), "utf8");
    await rm(resolve(runDir, "report.md"));
    const again = await rootstock(["--store", storeDir, "report", runId]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(await readFile(resolve(runDir, "report.md"), "utf8"), markdown);
    assert.equal(await readFile(resolve(runDir, "report.html"), "utf8"), html);

    const missing = await rootstock(["--store", storeDir, "report", "no-such-run"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no run "no-such-run" in .* \[ERR_RUN_NOT_FOUND\]/);
    assert.match(missing.stderr, /hint: recent runs: /);
  });

  test("report.html of the run renders in headless Chromium without errors", async () => {
    const { errors, png, title } = await renderInChromium(
      resolve(runDir, "report.html"),
      resolve(runDir, "report.png"),
    );
    assert.deepEqual(errors, []);
    assert.equal(title, "tiny-linux — rootstock report");
    assert.ok(png.length > 20_000, `screenshot is only ${png.length} bytes`);
  });

  test("run again, everything comes from the cache and the boot tests pass again", async () => {
    const warm = await rootstock(["--store", storeDir, "demo"]);
    assert.equal(warm.code, 0, `${warm.stdout}\n${warm.stderr}`);
    assert.match(
      warm.stdout,
      new RegExp(
        `^demo: +passed in \\S+: 0 steps built, ${plan.steps.size} from the cache, (\\d+)/\\1 boot tests passed$`,
        "m",
      ),
    );
    assert.notEqual(runDirOf(warm.stdout), runDir, "a run folder of its own");
    assert.doesNotMatch(warm.stdout, /^logs:/m, "no empty logs folder to point at");
  });
});
