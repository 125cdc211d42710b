import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { isRootstockError } from "../errors.ts";
import { loadTestModule } from "./test-module.ts";

const dir = await mkdtemp(join(tmpdir(), "rootstock-test-module-"));
after(() => rm(dir, { recursive: true, force: true }));

let count = 0;
async function load(source: string) {
  const path = join(dir, `m${count++}.test.ts`);
  await writeFile(path, source);
  return loadTestModule(path, "tests/m.test.ts");
}

async function refused(source: string, message: RegExp) {
  await assert.rejects(load(source), (error) => {
    assert.ok(isRootstockError(error));
    assert.equal(error.code, "ERR_CHECK_TEST_MODULE");
    assert.match(error.headline, message);
    assert.ok(error.hint);
    return true;
  });
}

test("cases keep the order written and carry the module's evidence", async () => {
  const cases = await load(`
    export const evidence = { buildsSoftware: ["compiles"] };
    export default { async "zeta boots"() {}, async compiles() {} };
  `);
  assert.deepEqual(
    cases.map((c) => [c.name, c.evidence]),
    [
      ["zeta boots", []],
      ["compiles", ["buildsSoftware"]],
    ],
  );
});

test("a module without cases, or with a non-function case, is refused", async () => {
  await refused("export default {};", /declares no tests/);
  await refused("export const x = 1;", /no default export/);
  await refused(
    "export default [async function t() {}];",
    /no default export of test cases \(it exports a list/,
  );
  await refused('export default { boots: "yes" };', /"boots" is a string, not a function/);
  await refused(
    'export default { async "two\\nlines"() {} };',
    /the test name "two\\nlines" holds a control character \(U\+000A\)/,
  );
  await refused("export default { boots( {", /cannot load test module tests\/m\.test\.ts/);
  // A throw while the module loads is placed on its line.
  const thrown = await load("\n\nthrow new Error('top-level boom');\n").catch((error: unknown) => error);
  assert.ok(isRootstockError(thrown), String(thrown));
  assert.match(thrown.headline, /^tests\/m\.test\.ts:3: cannot load test module .*top-level boom/);
  // So is a syntax error that type stripping finds.
  await refused(
    "\nexport const x = ;\n",
    /^tests\/m\.test\.ts:2: cannot load test module .*Expression expected/,
  );
});

test("evidence must name the module's own cases and known claims", async () => {
  await refused(
    'export const evidence = { buildsSoftware: ["compile"] }; export default { async compiles() {} };',
    /names "compile", which is not a test of the module/,
  );
  await refused(
    'export const evidence = { selfHosting: ["compiles"] }; export default { async compiles() {} };',
    /evidence "selfHosting" is not a known claim/,
  );
  await refused(
    'export const evidence = { buildsSoftware: "compiles" }; export default { async compiles() {} };',
    /evidence\.buildsSoftware is not a list of test names/,
  );
  await refused(
    "export const evidence = 3; export default { async compiles() {} };",
    /"evidence" is not an object/,
  );
});
