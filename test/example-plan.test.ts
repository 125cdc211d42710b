/**
 * plans/example end to end through the command line. GNU hello's source comes from Debian's source
 * archive through the host's apt configuration; where that is unreachable, the steps that need no
 * download still run (`--set WITH_HELLO=false`).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { SourceStore } from "../src/sources/source-store.ts";
import { resolve, type Workbench, workbench } from "./helpers/fixture-plan.ts";
import { rootstock } from "./helpers/rootstock-process.ts";

const EXAMPLE = fileURLToPath(new URL("../plans/example", import.meta.url));
const HELLO_SHA256 = "31e066137a962676e89f69d1b65382de95a7ef7d914b8cb956f41ea72e0f516b";

let bench: Workbench;
let helloSource: string | undefined;
let whyNoHello = "";
before(async () => {
  bench = await workbench();
  try {
    await promisify(execFile)("apt-get", ["source", "--download-only", "hello=2.10-3"], {
      cwd: bench.dir,
      timeout: 120_000,
    });
    helloSource = join(bench.dir, "hello_2.10.orig.tar.gz");
  } catch (error) {
    whyNoHello = `apt-get source hello=2.10-3 failed: ${(error as Error).message.split("\n")[0]}`;
  }
});
after(() => bench.remove());

test("plans/example without the downloaded source: the seed, a C program and the hermetic base", async () => {
  const store = join(bench.dir, "store-no-hello");
  // The plan's own toggle turns off hello and the step that mounts it.
  const result = await rootstock(["--store", store, "run", EXAMPLE, "--set", "WITH_HELLO=false"]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.match(
    result.stdout,
    /- hello skipped: when = "WITH_HELLO" is false\n- system skipped: when = "WITH_HELLO" is false/,
  );
  assert.match(result.stdout, /ok: 3 built, 0 cached/);
});

test("plans/example end to end, then a no-op rerun", async (t) => {
  if (!helloSource) {
    t.skip(whyNoHello);
    return;
  }
  const store = join(bench.dir, "store");
  await new SourceStore(store).admit(helloSource, { expected: { sha256: HELLO_SHA256 } });
  const cold = await rootstock(["--store", store, "run", EXAMPLE]);
  assert.equal(cold.code, 0, cold.stdout + cold.stderr);
  assert.match(cold.stdout, /ok: 5 built, 0 cached/);

  const graph = await resolve(EXAMPLE);
  const system = join(store, "outputs", graph.byName.get("system")?.key as string, "out", "share", "example");
  assert.equal(await readFile(join(system, "hello.txt"), "utf8"), "Hello, world!\n");
  assert.equal(await readFile(join(system, "greeting.txt"), "utf8"), "hello from a rootstock plan\n");

  const again = await rootstock(["--store", store, "run", EXAMPLE]);
  assert.equal(again.code, 0);
  assert.match(again.stdout, /ok: 0 built, 5 cached/);
});
