/**
 * A step whose last dependency is building has its work folder prepared meanwhile (sources unpacked,
 * files copied), and what was prepared for a step that never starts is removed.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { runPlan } from "../src/build/run-plan.ts";
import type { RootstockEvent } from "../src/events.ts";
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
let tarball: Tarball;
before(async () => {
  bench = await workbench();
  tarball = await makeTarball(bench.dir, "ahead-1.0.tar.gz", { "ahead.c": "int x;\n" }, { top: "ahead-1.0" });
  await admit(bench.storeDir, tarball);
});
after(() => bench.remove());

/**
 * `first` runs on the host, so that it sees the store: it waits (at most ten seconds) for the unpacked
 * source of `second`, which only preparing ahead can have put there before `first` ends.
 */
function plan(then: string) {
  return {
    name: "ahead",
    steps: {
      first: {
        toml: 'version = "1"\nsandbox = "host"\n',
        script: `do_install() {
  i=0
  while [ ! -f "$BUILD/../../second/build/src/ahead.c" ]; do
    i=$((i + 1)); [ "$i" -lt 200 ] || { echo "second was not prepared" >&2; exit 1; }
    sleep 0.05
  done
  ${then}
}
`,
      },
      second: {
        toml: `version = "1"\ndeps = ["first"]\n${sourceToml(tarball)}`,
        script: 'do_install() { cp "$SRC/ahead.c" "$OUT/"; }\n',
      },
    },
  };
}

test("the next step's work folder is prepared while its last dependency builds", async () => {
  const planDir = await writePlan(join(bench.dir, "prepared"), plan('echo seen > "$OUT/seen"'));
  const events: RootstockEvent[] = [];
  const result = await runPlan(await resolve(planDir), {
    storeDir: bench.storeDir,
    jobs: 1,
    emit: (event) => events.push(event),
  });
  assert.equal(result.ok, true, JSON.stringify(events.filter((event) => event.type === "step:failed")));
  assert.deepEqual(result.built, ["first", "second"]);
  assert.equal(
    await readFile(join(result.outputs.get("second")?.path as string, "ahead.c"), "utf8"),
    "int x;\n",
  );
  // The log of the prepared step reads as any other: one header, the unpacking, then the phases.
  const log = await readFile(join(result.runDir, "logs", "second.log"), "utf8");
  assert.equal(log.match(/attempt 1 of 1/g)?.length, 1);
  assert.ok(log.indexOf("unpacking ahead-1.0.tar.gz") < log.indexOf("==> rootstock: install"), log);
  assert.equal(existsSync(join(bench.storeDir, "work", result.runId)), false);
});

test("what was prepared for a step that never starts is removed", async () => {
  const planDir = await writePlan(join(bench.dir, "discarded"), plan('echo "first fails" >&2; exit 4'));
  const result = await runPlan(await resolve(planDir), { storeDir: bench.storeDir, jobs: 1 });
  assert.equal(result.ok, false);
  assert.deepEqual(result.failed, ["first"]);
  assert.deepEqual(
    result.skipped.map((skip) => skip.name),
    ["second"],
  );
  assert.equal(existsSync(join(bench.storeDir, "work", result.runId, "second")), false);
  assert.equal(existsSync(join(result.runDir, "logs", "second.log")), false);
  // The failed step's folder is kept for `rootstock shell`.
  assert.equal(existsSync(join(bench.storeDir, "work", result.runId, "first")), true);
});
