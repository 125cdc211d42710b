/** The umask rootstock is started with changes nothing it makes: not a step's tree, not the store's modes. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chown, mkdir, readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { makeTarball, sourceToml, type Workbench, workbench, writePlan } from "./helpers/fixture-plan.ts";
import { ROOTSTOCK } from "./helpers/rootstock-process.ts";

let bench: Workbench;
let planDir: string;
let tarball: string;

before(async () => {
  bench = await workbench("rootstock-umask-");
  const source = await makeTarball(
    bench.dir,
    "data-1.0.tar.gz",
    { "data.txt": "data\n", "run.sh": "echo hi\n" },
    { top: "data-1.0" },
  );
  tarball = source.path;
  planDir = await writePlan(join(bench.dir, "plan"), {
    toml: '[host]\ntools = ["sh", "cp", "mkdir"]\n',
    steps: {
      made: {
        // Copies what was unpacked (its modes as unpacked) and makes files and a folder of its own.
        toml: `version = "1"\n${sourceToml(source)}`,
        script:
          'do_install() { cp -R . "$OUT/src"; cp -R "$FILES" "$OUT/files"; echo made > "$OUT/made"; mkdir "$OUT/dir"; }\n',
        files: { "sub/f": "from the plan\n" },
      },
    },
  });
});
after(() => bench.remove());

/** Runs the plan under `umask` into a store of its own (as `user` when given) and returns its tree digest. */
async function digestUnder(umask: string, storeDir: string, user?: number): Promise<string> {
  const command = `umask ${umask} && exec "$@"`;
  const argv = [process.execPath, ROOTSTOCK, "--store", storeDir, "sources", "import", tarball];
  const run = [process.execPath, ROOTSTOCK, "--store", storeDir, "run", planDir];
  const asUser =
    user === undefined ? [] : ["setpriv", `--reuid=${user}`, `--regid=${user}`, "--clear-groups"];
  for (const words of [argv, run]) {
    const result = spawnSync(
      asUser[0] ?? "sh",
      [...asUser.slice(1), ...(user === undefined ? [] : ["sh"]), "-c", command, "sh", ...words],
      {
        encoding: "utf8",
        env: { ...process.env, NO_COLOR: "1", HOME: bench.dir },
      },
    );
    assert.equal(result.status, 0, `umask ${umask}: ${result.stdout}${result.stderr}`);
  }
  const [key] = await readdir(join(storeDir, "outputs"));
  const entry = JSON.parse(await readFile(join(storeDir, "outputs", key as string, "entry.json"), "utf8"));
  return entry.digest.sha256;
}

test("a step's tree is the same under umask 022, 077 and 000, and no store folder is writable by others", async () => {
  const usual = await digestUnder("022", join(bench.dir, "store-022"));
  assert.equal(await digestUnder("077", join(bench.dir, "store-077")), usual);
  const open = join(bench.dir, "store-000");
  assert.equal(await digestUnder("000", open), usual);
  for (const path of [open, join(open, "outputs"), join(open, "sources", "sha256"), join(open, "runs")]) {
    assert.equal((await stat(path)).mode & 0o022, 0, `${path} is writable by others`);
  }
});

test("unprivileged, the unpacked sources' modes do not follow the umask either", {
  skip: process.getuid?.() === 0 ? false : "needs root to run as another user",
}, async () => {
  // As root, tar keeps an archive's modes whatever the umask; as another user it would apply it.
  const stores = ["store-nobody-022", "store-nobody-077"].map((name) => join(bench.dir, name));
  for (const store of stores) {
    await mkdir(store);
    await chown(store, 65534, 65534);
  }
  assert.equal(
    await digestUnder("077", stores[1] as string, 65534),
    await digestUnder("022", stores[0] as string, 65534),
  );
});
