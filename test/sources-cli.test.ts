/** rootstock fetch, sources import and mirror, run as a user runs them, on a plan in a temp folder. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmod,
  chown,
  cp,
  lchown,
  mkdir,
  mkdtemp,
  readFile,
  rm,
  stat,
  symlink,
  truncate,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { after, before, describe, test } from "node:test";
import { CliContext } from "../src/cli/context.ts";
import { main } from "../src/cli/main.ts";
import { fetchSources } from "../src/sources/fetch-sources.ts";
import { SourceStore } from "../src/sources/source-store.ts";
import { Capture, runCli } from "./helpers/cli.ts";
import { sha256Of, startServer, type TestServer, testBytes } from "./helpers/http-server.ts";

let server: TestServer;
let work: string;
let planDir: string;
const files = [
  { step: "alpha", name: "alpha-1.0.tar.gz", body: testBytes(40_000, 31) },
  { step: "beta", name: "beta-2.1.tar.xz", body: testBytes(25_000, 32) },
  { step: "beta", name: "beta-extra.patch", body: testBytes(3_000, 33) },
];

before(async () => {
  server = await startServer();
  work = await mkdtemp(join(tmpdir(), "rootstock-sources-cli-"));
  planDir = join(work, "plan");
  await writeFixturePlan();
});
after(async () => {
  await server.close();
  await rm(work, { recursive: true, force: true });
});

async function writeFixturePlan(): Promise<void> {
  await mkdir(planDir, { recursive: true });
  await writeFile(
    join(planDir, "plan.toml"),
    'name = "fixture"\narch = "x86_64"\n\n[[stages]]\nname = "one"\nsteps = ["alpha", "beta"]\n',
  );
  for (const step of ["alpha", "beta"]) {
    const sources = files
      .filter((file) => file.step === step)
      .map((file) => {
        server.routes.set(`/files/${file.name}`, { body: file.body });
        return `[[sources]]\nurl = "${server.url}/files/${file.name}"\nsha256 = "${sha256Of(file.body)}"\nsize = ${file.body.length}\n`;
      });
    await mkdir(join(planDir, "steps", step), { recursive: true });
    await writeFile(join(planDir, "steps", step, "step.toml"), `version = "1"\n\n${sources.join("\n")}`);
  }
}

async function storeHasAll(storeDir: string): Promise<boolean> {
  const store = new SourceStore(storeDir);
  for (const file of files) if (!(await store.has(sha256Of(file.body)))) return false;
  return true;
}

describe("rootstock fetch, sources and mirror", () => {
  test("sources list says what is missing and how to fetch it, then that all are present", async () => {
    const store = join(work, "store-list");
    const before = await runCli(["--store", store, "sources", "list", planDir]);
    assert.equal(before.code, 0, before.stderr);
    assert.equal(before.stdout.match(/missing/g)?.length, 4, before.stdout);
    assert.match(before.stdout, /sources: 3 missing \(fetch them with `rootstock fetch --store \S+ \S+`\)/);
    assert.equal((await runCli(["--store", store, "fetch", planDir])).code, 0);
    const after = await runCli(["--store", store, "sources", "list", planDir]);
    assert.match(after.stdout, /alpha\s+alpha-1\.0\.tar\.gz/);
    assert.match(after.stdout, /sources: all 3 present\n$/);
    assert.doesNotMatch(after.stdout, /missing|fetch them/);
    // Counted as files, as fetch counts them: the flagship's six pins are four tarballs.
    const flagship = join(import.meta.dirname, "..", "plans", "tiny-linux");
    const listed = await runCli(["--store", join(work, "store-flagship-list"), "sources", "list", flagship]);
    assert.equal(listed.stdout.match(/^ {2}missing /gm)?.length, 6, listed.stdout);
    assert.match(listed.stdout, /^sources: 4 missing /m);
  });

  test("the store notes how each source came in, and a later run's report says so", async () => {
    const storeDir = join(work, "store-origin");
    assert.equal((await runCli(["--store", storeDir, "fetch", planDir])).code, 0);
    const store = new SourceStore(storeDir);
    const alpha = files[0] as (typeof files)[number];
    assert.deepEqual(
      { ...store.originOf(sha256Of(alpha.body)), at: undefined },
      { how: "fetched", from: `${server.url}/files/${alpha.name}`, at: undefined },
    );
    // Its steps fail (the files are no archives): a failed run's report has its sources too.
    const run = await runCli(["--store", storeDir, "run", planDir]);
    const report = `${run.stdout}${run.stderr}`.match(/report: (\S+)report\.html$/m)?.[1];
    assert.ok(report, run.stderr);
    const markdown = await readFile(join(report, "report.md"), "utf8");
    const today = new Date().toISOString().slice(0, 10);
    assert.ok(
      markdown.includes(`| fetched from ${server.url}/files/${alpha.name} (${today}), before this run |`),
      markdown,
    );
    // An imported file is noted by the full path it was read from, however it was named.
    const imported = join(work, "import-origin");
    await mkdir(imported, { recursive: true });
    await writeFile(join(imported, alpha.name), alpha.body);
    const importStore = join(work, "store-origin-import");
    const admitted = await runCli([
      "--store",
      importStore,
      "sources",
      "import",
      relative(process.cwd(), join(imported, alpha.name)),
    ]);
    assert.equal(admitted.code, 0, admitted.stderr);
    assert.equal(
      new SourceStore(importStore).originOf(sha256Of(alpha.body))?.from,
      join(imported, alpha.name),
    );
    assert.equal(new SourceStore(importStore).originOf(sha256Of(alpha.body))?.how, "imported");
    // sources list tells where a file came from when that is not where the plan says.
    const listed = await runCli(["--store", importStore, "sources", "list", planDir]);
    assert.ok(
      listed.stdout.includes(`(imported from ${join(imported, alpha.name)}, ${today})`),
      listed.stdout,
    );
    const fetchedList = await runCli(["--store", storeDir, "sources", "list", planDir]);
    assert.doesNotMatch(fetchedList.stdout, /fetched from/);
    // A file:// URL's file is where the plan says too: no note.
    const local = join(work, "local-plan");
    await mkdir(join(local, "steps", "a"), { recursive: true });
    await writeFile(
      join(local, "plan.toml"),
      'name = "local"\narch = "x86_64"\n[[stages]]\nname = "s"\nsteps = ["a"]\n',
    );
    await writeFile(
      join(local, "steps", "a", "step.toml"),
      `version = "1"\n[[sources]]\nurl = "file://${join(imported, alpha.name)}"\nsha256 = "${sha256Of(alpha.body)}"\n`,
    );
    const localStore = join(work, "store-origin-local");
    assert.equal((await runCli(["--store", localStore, "fetch", local])).code, 0);
    const localList = await runCli(["--store", localStore, "sources", "list", local]);
    assert.match(localList.stdout, /present/);
    assert.doesNotMatch(localList.stdout, /fetched from/);
  });

  test("mirror exports the sources of steps a when turns off too: another machine may --set them on", async () => {
    const dir = join(work, "when-plan");
    const off = files[0] as (typeof files)[number];
    await mkdir(join(dir, "steps", "opt"), { recursive: true });
    await writeFile(
      join(dir, "plan.toml"),
      'name = "when-plan"\narch = "x86_64"\n[variables]\nWITH_OPT = false\n[[stages]]\nname = "s"\nsteps = ["opt"]\n',
    );
    await writeFile(
      join(dir, "steps", "opt", "step.toml"),
      `version = "1"\nwhen = "WITH_OPT"\n[[sources]]\nurl = "${server.url}/files/${off.name}"\nsha256 = "${sha256Of(off.body)}"\n`,
    );
    const mirrorDir = join(work, "mirror-when");
    const exported = await runCli(["--store", join(work, "store-when"), "mirror", dir, mirrorDir]);
    assert.equal(exported.code, 0, exported.stderr);
    assert.deepEqual(await readFile(join(mirrorDir, "sha256", sha256Of(off.body))), off.body);
    // Offline, with a store that lacks it: not needed by these variables, it is left out with a note.
    const offline = await runCli([
      "--store",
      join(work, "store-when-offline"),
      "mirror",
      dir,
      `${mirrorDir}-offline`,
      "--offline",
    ]);
    assert.equal(offline.code, 0, offline.stderr);
    assert.match(
      offline.stdout,
      new RegExp(
        `note ${off.name.replace(/\./g, "\\.")} is not in the mirror: it is not in the store, and --offline forbids fetching; step opt needs it where its when \\(WITH_OPT\\) holds`,
      ),
    );
    // Turned on, it is needed: its absence fails the mirror as before.
    const needed = await runCli([
      "--store",
      join(work, "store-when-offline"),
      "mirror",
      dir,
      `${mirrorDir}-offline`,
      "--offline",
      "--set",
      "WITH_OPT=true",
    ]);
    assert.equal(needed.code, 1, needed.stdout);
    assert.match(needed.stderr, /\[ERR_SOURCES_MISSING\]/);
  });

  test("a mirror folder's sha256/ link another user made is refused, not followed", {
    skip: process.getuid?.() === 0 ? false : "needs root to make a link of another user",
  }, async () => {
    const dir = join(work, "mirror-planted");
    await mkdir(dir, { recursive: true });
    await mkdir(join(work, "mirror-planted-target"), { recursive: true });
    await symlink(join(work, "mirror-planted-target"), join(dir, "sha256"));
    await lchown(join(dir, "sha256"), 65534, 65534);
    const refused = await runCli(["--store", join(work, "store-planted"), "mirror", planDir, dir]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /sha256 belongs to nobody, not to this user \[ERR_MIRROR_NOT_OWN\]/);
  });

  test("mirror into /proc is refused at once, not a mkdir that spins for good", async () => {
    const refused = await runCli([
      "--store",
      join(work, "store-proc"),
      "mirror",
      planDir,
      "/proc/rootstock-mirror",
    ]);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /mirror folder \/proc\/rootstock-mirror: \/proc belongs to the kernel .*\[ERR_CLI_BAD_FOLDER\]/,
    );
    // A file on the way: the hint is a path to give, not an option that does not exist.
    const underFile = await runCli(["--store", join(work, "store-proc"), "mirror", planDir, "/dev/null/x"]);
    assert.match(underFile.stderr, /hint: give a folder, or a path where one can be made \(\/dev\/…\)$/m);
  });

  test("fetch --offline lists every missing source and exits 1 without a request", async () => {
    const before = server.requests.length;
    const run = await runCli(["--store", join(work, "store-offline"), "fetch", planDir, "--offline"]);
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      /3 sources are not in the store, and --offline forbids fetching \[ERR_SOURCES_MISSING\]/,
    );
    for (const file of files) {
      assert.ok(run.stderr.includes(`step ${file.step}: ${file.name}`), run.stderr);
      assert.ok(run.stderr.includes(sha256Of(file.body)), run.stderr);
    }
    assert.match(run.stderr, /hint: .*rootstock sources import/);
    assert.equal(server.requests.length, before);
  });

  test("a run stopped by missing sources says so in its report, and the terminal points at it", async () => {
    const run = await runCli(["--store", join(work, "store-run-offline"), "run", planDir, "--offline"]);
    assert.equal(run.code, 1);
    const report = run.stderr.match(/^ {2}report: (\S+report\.html)$/m)?.[1];
    assert.ok(report, run.stderr);
    const markdown = await readFile(join(report, "..", "report.md"), "utf8");
    assert.match(
      markdown,
      /Result: failure: 3 sources are not in the store, and --offline forbids fetching \[ERR_SOURCES_MISSING\]/,
    );
    for (const file of files) assert.ok(markdown.includes(`step ${file.step}: ${file.name}`), markdown);
    assert.match(markdown, /^ {2}\* hint: .*rootstock sources import/m);
    // The event stream says what the terminal says, hint included, for a pipeline that reads it.
    const streamed = await runCli([
      "--store",
      join(work, "store-run-offline"),
      "run",
      planDir,
      "--offline",
      "--json",
    ]);
    const end = streamed.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line))
      .find((event) => event.type === "run:end");
    assert.equal(end?.error?.code, "ERR_SOURCES_MISSING");
    assert.match(end?.error?.hint ?? "", /rootstock sources import/);
    const runs = await runCli(["--store", join(work, "store-run-offline"), "runs"]);
    assert.match(runs.stdout, /failed .* 0 built, 0 cached, stopped by ERR_SOURCES_MISSING/);
  });

  test("mirror leaves a file of another plan (or put there by hand) under its name, and says so", async () => {
    const storeDir = join(work, "store-taken");
    const mirrorDir = join(work, "mirror taken");
    const taken = files[0] as (typeof files)[number];
    await mkdir(mirrorDir, { recursive: true });
    await writeFile(join(mirrorDir, taken.name), "mine\n");
    const mine = sha256Of(Buffer.from("mine\n"));
    await writeFile(join(mirrorDir, "SHA256SUMS"), `${mine}  ${taken.name}\n`);
    const exported = await runCli(["--store", storeDir, "mirror", planDir, mirrorDir]);
    assert.equal(exported.code, 0, exported.stderr);
    assert.equal(await readFile(join(mirrorDir, taken.name), "utf8"), "mine\n");
    assert.match(
      exported.stdout,
      new RegExp(`note ${taken.name} in the mirror is another file \\(sha256 ${mine}\\), left as it is`),
    );
    const sums = await readFile(join(mirrorDir, "SHA256SUMS"), "utf8");
    assert.ok(sums.includes(`${mine}  ${taken.name}\n`), sums);
    assert.ok(!sums.includes(`${sha256Of(taken.body)}  ${taken.name}`), sums);
    assert.deepEqual(await readFile(join(mirrorDir, "sha256", sha256Of(taken.body))), taken.body);
    // Listed by its hash path instead: sha256sum -c checks every file, and every line holds.
    assert.ok(sums.includes(`${sha256Of(taken.body)}  sha256/${sha256Of(taken.body)}\n`), sums);
    const check = spawnSync("sha256sum", ["-c", "--quiet", "SHA256SUMS"], {
      cwd: mirrorDir,
      encoding: "utf8",
    });
    assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);
    // The hint to use it is a command to paste: the folder's space is quoted.
    assert.match(exported.stdout, /use it with: rootstock fetch PLAN --offline --mirror '[^']*mirror taken'/);

    // A name whose line no longer holds (the file there changed by hand) loses the line; a copy by hash
    // with other bytes is replaced, and said so.
    await writeFile(join(mirrorDir, taken.name), "changed by hand\n");
    const other = files[1] as (typeof files)[number];
    await rm(join(mirrorDir, "sha256", sha256Of(other.body)));
    await writeFile(join(mirrorDir, "sha256", sha256Of(other.body)), "damaged");
    const again = await runCli(["--store", storeDir, "mirror", planDir, mirrorDir]);
    assert.match(again.stdout, /mirror: 1 written, .*; 1 damaged copy replaced/);
    // A copy by the name this mirror gave it, cut short on the stick (its own file now): made again.
    const third = files[2] as (typeof files)[number];
    await rm(join(mirrorDir, third.name));
    await writeFile(join(mirrorDir, third.name), third.body.subarray(0, 10));
    const named = await runCli(["--store", storeDir, "mirror", planDir, mirrorDir]);
    assert.match(named.stdout, /; 1 damaged copy replaced/);
    assert.ok(!named.stdout.includes(`note ${third.name} in the mirror is another file`), named.stdout);
    assert.deepEqual(await readFile(join(mirrorDir, third.name)), third.body);
    const recheck = spawnSync("sha256sum", ["-c", "--quiet", "SHA256SUMS"], {
      cwd: mirrorDir,
      encoding: "utf8",
    });
    assert.equal(recheck.status, 0, `${recheck.stdout}${recheck.stderr}`);
  });

  test("mirror exports a plan's sources; an offline fetch into a fresh store reads that folder", async () => {
    const storeDir = join(work, "store-online");
    const fetched = await runCli(["--store", storeDir, "fetch", planDir]);
    assert.equal(fetched.code, 0, fetched.stderr);
    assert.match(fetched.stdout, /fetch: 3 fetched/);

    const mirrorDir = join(work, "mirror");
    const requests = server.requests.length;
    const exported = await runCli(["--store", storeDir, "mirror", planDir, mirrorDir]);
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stdout, /mirror: 3 written/);
    assert.equal(server.requests.length, requests, "everything came from the store");
    const sums = await readFile(join(mirrorDir, "SHA256SUMS"), "utf8");
    for (const file of files) {
      const sha256 = sha256Of(file.body);
      assert.deepEqual(await readFile(join(mirrorDir, "sha256", sha256)), file.body);
      const [byHash, byName] = await Promise.all([
        stat(join(mirrorDir, "sha256", sha256)),
        stat(join(mirrorDir, file.name)),
      ]);
      assert.equal(byName.ino, byHash.ino, "the named file is a hard link to the hashed one");
      assert.ok(sums.includes(`${sha256}  ${file.name}\n`));
    }
    const again = await runCli(["--store", storeDir, "mirror", planDir, mirrorDir]);
    assert.match(again.stdout, /mirror: 0 written, 3 already there/);

    const fresh = join(work, "store-airgapped");
    const offline = await runCli(["--store", fresh, "fetch", planDir, "--offline", "--mirror", mirrorDir]);
    assert.equal(offline.code, 0, offline.stderr);
    assert.equal(server.requests.length, requests, "the offline fetch sent no request");
    assert.ok(await storeHasAll(fresh));

    // A copy on the stick cut short (both its names: they are one file) is damage, not a new release.
    const damaged = join(work, "mirror-damaged");
    await cp(mirrorDir, damaged, { recursive: true });
    const first = files[0] as (typeof files)[number];
    await truncate(join(damaged, "sha256", sha256Of(first.body)), 1000);
    await truncate(join(damaged, first.name), 1000);
    const cut = await runCli([
      "--store",
      join(work, "store-cut"),
      "fetch",
      planDir,
      "--offline",
      "--mirror",
      damaged,
    ]);
    assert.equal(cut.code, 1);
    assert.match(
      cut.stderr,
      /It was kept as the pinned file, so it is damaged \(cut short: 1000 of 40000 bytes\) or was changed: copy it again/,
    );
    assert.doesNotMatch(cut.stderr, /update the pin/);

    // The same folder served over HTTP is a URL mirror: files by hash come first.
    for (const file of files) {
      const sha256 = sha256Of(file.body);
      server.routes.set(`/mirror/sha256/${sha256}`, {
        body: await readFile(join(mirrorDir, "sha256", sha256)),
      });
    }
    const viaHttp = join(work, "store-http-mirror");
    const sources = files.map((file) => ({
      file: file.name,
      sha256: sha256Of(file.body),
      url: "http://upstream.invalid/gone.tar.gz",
      mirrors: [],
      extract: false,
    }));
    const result = await fetchSources(sources, {
      storeDir: viaHttp,
      mirrors: [`${server.url}/mirror`],
      proxyEnv: {},
    });
    assert.deepEqual(
      result.fetched.map((item) => item.from),
      sources.map((source) => `${server.url}/mirror/sha256/${source.sha256}`),
    );
  });

  test("sources import admits files by hash; with --plan only pinned ones, saying which step each serves", async () => {
    const loose = join(work, "loose");
    await mkdir(loose, { recursive: true });
    for (const file of files) await writeFile(join(loose, `renamed-${file.name}`), file.body);
    await writeFile(join(loose, "unrelated.tar.gz"), testBytes(2_000, 99));

    const storeDir = join(work, "store-import");
    const run = await runCli(["--store", storeDir, "sources", "import", loose, "--plan", planDir]);
    assert.equal(run.code, 0, run.stderr);
    for (const file of files) {
      assert.match(
        run.stdout,
        new RegExp(
          `added .*renamed-${file.name.replace(/\./g, "\\.")}.*serves ${file.step}: ${file.name.replace(/\./g, "\\.")}`,
        ),
      );
    }
    assert.match(
      run.stdout,
      /skip .*unrelated\.tar\.gz: sha256 [0-9a-f]{64} matches no source of the plan; not admitted/,
    );
    assert.match(run.stdout, /3 added, 0 already present, 1 matched nothing/);
    assert.match(run.stdout, /has every source it needs/);
    assert.ok(await storeHasAll(storeDir));

    // A stick with one file damaged under its plan name and one missing: said, before any run.
    const stick = join(work, "stick");
    await mkdir(stick, { recursive: true });
    const [alpha, beta] = files as [(typeof files)[number], (typeof files)[number]];
    await writeFile(join(stick, alpha.name), Buffer.concat([alpha.body.subarray(0, 100), Buffer.from("x")]));
    const partly = await runCli([
      "--store",
      join(work, "store-stick"),
      "sources",
      "import",
      stick,
      "--plan",
      planDir,
    ]);
    assert.match(
      partly.stdout,
      new RegExp(
        `skip +\\S+/${alpha.name.replace(/\./g, "\\.")}: named as ${alpha.name.replace(/\./g, "\\.")} of step alpha, whose pin is sha256 ${sha256Of(alpha.body)}, but it is sha256 [0-9a-f]{64} \\(101 B\\): a damaged copy, or another version`,
      ),
    );
    assert.match(
      partly.stdout,
      /0 added, 0 already present, 1 named as the plan's but with other bytes, 0 matched nothing/,
    );
    assert.match(partly.stdout, /still lacks 3:/);
    assert.match(
      partly.stdout,
      new RegExp(
        `missing +step beta: ${beta.name.replace(/\./g, "\\.")} \\(sha256 ${sha256Of(beta.body)}\\)`,
      ),
    );
    assert.equal(await new SourceStore(storeDir).has(sha256Of(testBytes(2_000, 99))), false);

    const twice = await runCli([
      "--store",
      storeDir,
      "sources",
      "import",
      join(loose, `renamed-${files[0]?.name}`),
    ]);
    assert.match(twice.stdout, /0 added, 1 already present/);

    const any = await runCli(["--store", storeDir, "sources", "import", join(loose, "unrelated.tar.gz")]);
    assert.equal(any.code, 0);
    assert.equal(await new SourceStore(storeDir).has(sha256Of(testBytes(2_000, 99))), true);

    const unrelated = await runCli([
      "--store",
      storeDir,
      "sources",
      "import",
      join(loose, "unrelated.tar.gz"),
      "--plan",
      planDir,
    ]);
    assert.equal(unrelated.code, 1);
    assert.match(unrelated.stderr, /none of the files given matches a source of .* \[ERR_IMPORT_NO_MATCH\]/);

    const missing = await runCli(["--store", storeDir, "sources", "import", join(loose, "nope.tar.gz")]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nope\.tar\.gz: no such file or folder \[ERR_IMPORT_NOT_FOUND\]/);
    const device = await runCli(["--store", storeDir, "sources", "import", "/dev/null"]);
    assert.equal(device.code, 1);
    assert.match(
      device.stderr,
      /\/dev\/null: not a regular file \(a device, pipe or socket\) \[ERR_IMPORT_NOT_FILE\]/,
    );
  });

  test("sources import reads a folder without following links out of it, takes no private file, and stops on Ctrl-C", async () => {
    // A store other users may enter (the work folder is made 0700): private files must not reach it.
    await chmod(work, 0o755);
    const dir = join(work, "import-links");
    const outside = join(work, "import-outside");
    await mkdir(join(dir, "sub"), { recursive: true });
    await mkdir(join(dir, "closed"), { recursive: true, mode: 0o700 });
    await writeFile(join(dir, "closed", "known_hosts"), "secret host\n", { mode: 0o644 });
    await mkdir(outside, { recursive: true });
    await writeFile(join(outside, "deep.tar.gz"), testBytes(1_000, 71));
    await writeFile(join(outside, "public.tar.gz"), testBytes(1_000, 72));
    await writeFile(join(outside, "secret"), "s3cr3t\n", { mode: 0o600 });
    await writeFile(join(dir, "own.tar.gz"), testBytes(1_000, 73));
    await writeFile(join(dir, "private.tar.gz"), testBytes(1_000, 74), { mode: 0o600 });
    await symlink(outside, join(dir, "sub", "elsewhere"));
    await symlink("..", join(dir, "sub", "loop"));
    await symlink(join(outside, "secret"), join(dir, "secret.tar.gz"));
    await symlink(join(outside, "public.tar.gz"), join(dir, "linked.tar.gz"));
    await symlink(join(work, "nothing-here"), join(dir, "dangling.tar.gz"));
    const storeDir = join(work, "store-import-links");
    const run = await runCli(["--store", storeDir, "sources", "import", dir]);
    assert.equal(run.code, 0, run.stderr);
    const store = new SourceStore(storeDir);
    assert.equal(await store.has(sha256Of(testBytes(1_000, 73))), true);
    assert.equal(await store.has(sha256Of(testBytes(1_000, 72))), true, "a link to a file is read");
    assert.equal(
      await store.has(sha256Of(testBytes(1_000, 71))),
      false,
      "a link to a folder is not followed",
    );
    assert.equal(await store.has(sha256Of(testBytes(1_000, 74))), false);
    assert.equal(await store.has(sha256Of(Buffer.from("s3cr3t\n"))), false);
    assert.match(run.stdout, /skip +\S+\/sub\/elsewhere: a link to a folder, not followed/);
    assert.match(run.stdout, /skip +\S+\/sub\/loop: a link to a folder, not followed/);
    assert.match(
      run.stdout,
      /skip +\S+\/secret\.tar\.gz: others may not read it \(mode 0600\), but could in the source store/,
    );
    assert.match(run.stdout, /skip +\S+\/private\.tar\.gz: others may not read it \(mode 0600\)/);
    assert.match(
      run.stdout,
      /skip +\S+\/closed\/known_hosts: others may not read it \(its folder \S+\/closed is closed to them\)/,
    );
    assert.equal(await store.has(sha256Of(Buffer.from("secret host\n"))), false);
    assert.match(run.stdout, /skip +\S+\/dangling\.tar\.gz: a link that leads nowhere/);
    assert.match(run.stdout, /2 added, 0 already present, 0 matched nothing, 6 passed over/);

    // A folder whose only file is passed over: said so, not that the folder holds no files.
    const closedOnly = await runCli(["--store", storeDir, "sources", "import", join(dir, "closed")]);
    assert.equal(closedOnly.code, 1);
    assert.match(
      closedOnly.stderr,
      /no file given could be taken in: the one found was passed over, each with its reason above \[ERR_IMPORT_NOTHING\]/,
    );
    const named = await runCli(["--store", storeDir, "sources", "import", join(dir, "private.tar.gz")]);
    assert.equal(named.code, 1);
    assert.match(
      named.stderr,
      /private\.tar\.gz: others may not read it \(mode 0600\).*\[ERR_IMPORT_PRIVATE\]\n {2}hint: if it may be shared, let others read it first/,
    );
    // A store others cannot enter leaks nothing: the file is taken.
    const closedStore = join(dir, "closed", "store");
    const own = await runCli(["--store", closedStore, "sources", "import", join(dir, "private.tar.gz")]);
    assert.equal(own.code, 0, own.stderr);
    await symlink("looped", join(dir, "looped"));
    const loop = await runCli(["--store", storeDir, "sources", "import", join(dir, "looped")]);
    assert.match(loop.stderr, /looped: a link that leads round in a loop \[ERR_IMPORT_NOT_FOUND\]/);
    // As root, a copy of another user's file is root's: that user could change it after its hash was checked.
    if (process.getuid?.() === 0) {
      const theirs = join(work, "import-theirs.tar.gz");
      await writeFile(theirs, testBytes(1_000, 77));
      await chown(theirs, 65534, 65534);
      assert.equal((await runCli(["--store", storeDir, "sources", "import", theirs])).code, 0);
      const stored = await stat(new SourceStore(storeDir).path(sha256Of(testBytes(1_000, 77))));
      assert.deepEqual([stored.uid, stored.gid], [0, 0]);
    }
    // A name longer than a file name may be is said so, for an import and for a store.
    const long = join(work, "x".repeat(300));
    const tooLong = await runCli(["--store", storeDir, "sources", "import", long]);
    assert.match(tooLong.stderr, /a name in it is longer than 255 bytes.*\[ERR_IMPORT_NOT_FOUND\]/);
    const longStore = await runCli(["--store", long, "runs"]);
    assert.match(
      longStore.stderr,
      /a name in its path is longer than 255 bytes.*\[ERR_STORE_UNREADABLE\]\n {2}hint: give a shorter path/,
    );
    // A name with an escape sequence is shown as typed, not acted on by the terminal.
    const escaped = join(work, "import-escape");
    await mkdir(escaped, { recursive: true });
    await writeFile(join(escaped, "\u001b[31mred.tar.gz"), testBytes(1_000, 76));
    const shown = await runCli(["--store", storeDir, "sources", "import", escaped]);
    assert.match(shown.stdout, /added \$'\S*\\x1b\[31mred\.tar\.gz'/);
    assert.ok(!shown.stdout.includes("\u001b"), shown.stdout);
    // A name that is not UTF-8 reaches rootstock (as Node hands it over) with U+FFFD for its bytes.
    const latin1 = join(work, "import-latin1");
    await mkdir(latin1, { recursive: true });
    await writeFile(Buffer.from(`${latin1}/caf\xe9.tar.gz`, "latin1"), testBytes(1_000, 75));
    const walked = await runCli(["--store", storeDir, "sources", "import", latin1]);
    assert.match(
      walked.stdout,
      /skip +\S+\/caf\uFFFD\.tar\.gz: its name is not valid UTF-8 .*; rename it to UTF-8/,
    );
    const named8 = await runCli(["--store", storeDir, "sources", "import", join(latin1, "caf\uFFFD.tar.gz")]);
    assert.match(
      named8.stderr,
      /caf\uFFFD\.tar\.gz: its name is not valid UTF-8 .*\[ERR_IMPORT_NOT_FOUND\]\n {2}hint: rename it to UTF-8/,
    );

    // Ctrl-C while a large file is hashed: an interrupted command, not a bug.
    const big = join(work, "import-big", "big.tar");
    await mkdir(dirname(big), { recursive: true });
    await writeFile(big, "");
    await truncate(big, 4 * 2 ** 30);
    const stdout = new Capture();
    const stderr = new Capture();
    const context = new CliContext(stdout, stderr);
    setTimeout(() => context.interrupt("SIGINT"), 300);
    const code = await main(["--no-color", "--store", storeDir, "sources", "import", big], context);
    process.exitCode = undefined;
    assert.equal(code, 130, `${stdout.text}\n${stderr.text}`);
    assert.match(stderr.text, /\[ERR_INTERRUPTED\]\n {2}hint: run again: the files admitted so far are kept/);
    assert.doesNotMatch(stderr.text, /internal error|AbortError/);
  });

  test("a source two steps share is one file: counted once by fetch, listed once offline; a size that differs from the pin is said", async () => {
    const shared = testBytes(7_000, 34);
    server.routes.set("/files/shared-1.0.tar.gz", { body: shared });
    const pin = `[[sources]]\nurl = "${server.url}/files/shared-1.0.tar.gz"\nsha256 = "${sha256Of(shared)}"\nsize = ${shared.length}\ndebian = { package = "shared", version = "1.0-1", file = "shared_1.0.orig.tar.gz" }\n`;
    const dir = join(work, "shared-plan");
    for (const step of ["one", "two"]) {
      await mkdir(join(dir, "steps", step), { recursive: true });
      await writeFile(join(dir, "steps", step, "step.toml"), `version = "1"\n${pin}`);
    }
    await writeFile(
      join(dir, "plan.toml"),
      'name = "shared"\narch = "x86_64"\n\n[[stages]]\nname = "one"\nsteps = ["one", "two"]\n',
    );
    const store = join(work, "store-shared");
    const offline = await runCli(["--store", store, "fetch", dir, "--offline"]);
    assert.equal(offline.code, 1);
    assert.equal(offline.stderr.match(/url http/g)?.length, 1, offline.stderr);
    assert.equal(offline.stderr.match(/debian shared=1\.0-1/g)?.length, 1, offline.stderr);
    const fetched = await runCli(["--store", store, "fetch", dir]);
    assert.equal(fetched.code, 0, fetched.stderr);
    assert.match(fetched.stdout, /fetch: 1 fetched \(6\.8 KiB\)/);

    await writeFile(
      join(dir, "steps", "two", "step.toml"),
      `version = "1"\n${pin.replace(`size = ${shared.length}`, "size = 6999")}`,
    );
    const listed = await runCli(["--store", store, "sources", "list", dir]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /misfit {2}two .*\(7000 bytes, not the pinned 6999\)$/m);
    assert.match(listed.stdout, /sources: 1 of another size than pinned \(`rootstock fetch .*` says whether/);
  });
});
