/**
 * A plan's boot tests: TypeScript modules in its tests/ folder whose default export is an object of
 * named async functions, each a test case taking the machine. They run in the order written (object
 * keys keep it, where named exports would be sorted), one after another on one machine per module:
 *
 *     import type { TestModule } from "rootstock/check";
 *
 *     export default {
 *       async "boots to a shell"(machine) {
 *         await machine.succeed("true");
 *       },
 *     } satisfies TestModule;
 *
 * A module may also export what its cases prove about the system, for the run's report:
 *
 *     export const evidence = { buildsSoftware: ["compiles a program"] } satisfies TestEvidence;
 */
import { describeCause, RootstockError } from "../errors.ts";
import type { Machine } from "./machine.ts";

const { pathToFileURL } = process.getBuiltinModule("node:url");

/** What a test knows besides its machine. */
export interface TestContext {
  /** The image under test. */
  image: string;
  /**
   * The output folders, on the host, of the steps the boot needed (the images' contents and the
   * kernel's step), by step name: what a test compares the guest with (`boot/kernel.release`, say).
   */
  outputs: Readonly<Record<string, string>>;
}

export type TestFunction = (machine: Machine, context: TestContext) => Promise<void> | void;

export type TestModule = Record<string, TestFunction>;

/** Claims a report answers from passing tests, each naming cases of the module. */
export interface TestEvidence {
  /** Cases that build software inside the system: "Can install further software from source". */
  buildsSoftware?: readonly string[];
}

export type EvidenceKind = keyof TestEvidence;
const EVIDENCE_KINDS: readonly EvidenceKind[] = ["buildsSoftware"];

export interface TestCase {
  name: string;
  run: TestFunction;
  /** What the case proves when it passes, from the module's `evidence` export. */
  evidence: EvidenceKind[];
}

/** Imports a test module and lists its cases; `display` names it in messages. */
export async function loadTestModule(path: string, display: string): Promise<TestCase[]> {
  let loaded: { default?: unknown; evidence?: unknown };
  try {
    loaded = (await import(pathToFileURL(path).href)) as { default?: unknown; evidence?: unknown };
  } catch (error) {
    // Where in the module it failed, when the error knows (a throw or a JavaScript syntax error).
    // A throw names the module by URL; a syntax error that type stripping finds, by path on its first line.
    const url = pathToFileURL(path).href;
    const stack = String((error as Error | undefined)?.stack ?? "");
    const at = [`${url}:`, `${path}:`].map((prefix) => [stack.indexOf(prefix), prefix.length] as const);
    const [from, length] = at.find(([index]) => index >= 0) ?? [-1, 0];
    const line = from < 0 ? Number.NaN : Number.parseInt(stack.slice(from + length), 10);
    throw new RootstockError(
      "ERR_CHECK_TEST_MODULE",
      `cannot load test module ${display}: ${describeCause(error)}`,
      {
        file: display,
        ...(Number.isInteger(line) ? { line } : {}),
        cause: error,
        hint: "a test module is TypeScript that Node runs by stripping types: erasable syntax only, relative imports ending in .ts",
      },
    );
  }
  const tests = loaded.default;
  const shape =
    'export default { async "boots to a shell"(machine) { await machine.succeed("true"); } } satisfies TestModule;';
  if (tests === null || typeof tests !== "object" || Array.isArray(tests)) {
    throw new RootstockError(
      "ERR_CHECK_TEST_MODULE",
      // A list would name its tests 0, 1, 2: the cases are an object, named by their keys.
      `test module ${display} has no default export of test cases${Array.isArray(tests) ? " (it exports a list; the cases are an object of named functions)" : typeof tests === "function" ? " (it exports one function; the cases are an object of named functions)" : ""}`,
      {
        file: display,
        hint: `write: ${shape}`,
      },
    );
  }
  const cases: TestCase[] = [];
  for (const [name, run] of Object.entries(tests)) {
    if (typeof run !== "function") {
      throw new RootstockError(
        "ERR_CHECK_TEST_MODULE",
        `test module ${display}: "${name}" is a ${typeof run}, not a function`,
        {
          file: display,
          hint: `every entry of the default export is a test: ${shape}`,
        },
      );
    }
    // A name is shown on terminals, in error headlines and in junit.xml: nothing in it may drive them.
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it looks for
    const control = /[\x00-\x1f\x7f-\x9f]/.exec(name);
    if (control) {
      throw new RootstockError(
        "ERR_CHECK_TEST_MODULE",
        `test module ${display}: the test name ${JSON.stringify(name)} holds a control character (U+${control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")})`,
        { file: display, hint: "name tests in printable text, on one line" },
      );
    }
    cases.push({ name, run: run as TestFunction, evidence: [] });
  }
  if (cases.length === 0) {
    throw new RootstockError("ERR_CHECK_TEST_MODULE", `test module ${display} declares no tests`, {
      file: display,
      hint: `write: ${shape}`,
    });
  }
  applyEvidence(cases, loaded.evidence, display);
  return cases;
}

/** Marks cases with the module's `evidence` export; a claim about a case that is not there is an error. */
function applyEvidence(cases: TestCase[], evidence: unknown, display: string): void {
  if (evidence === undefined) return;
  const shape = 'export const evidence = { buildsSoftware: ["compiles a program"] } satisfies TestEvidence;';
  if (evidence === null || typeof evidence !== "object" || Array.isArray(evidence)) {
    throw new RootstockError("ERR_CHECK_TEST_MODULE", `test module ${display}: "evidence" is not an object`, {
      file: display,
      hint: `write: ${shape}`,
    });
  }
  for (const [kind, names] of Object.entries(evidence)) {
    if (!EVIDENCE_KINDS.includes(kind as EvidenceKind)) {
      throw new RootstockError(
        "ERR_CHECK_TEST_MODULE",
        `test module ${display}: evidence "${kind}" is not a known claim`,
        { file: display, hint: `known claims: ${EVIDENCE_KINDS.join(", ")}` },
      );
    }
    if (!Array.isArray(names) || names.some((name) => typeof name !== "string")) {
      throw new RootstockError(
        "ERR_CHECK_TEST_MODULE",
        `test module ${display}: evidence.${kind} is not a list of test names`,
        { file: display, hint: `write: ${shape}` },
      );
    }
    for (const name of names as string[]) {
      const test = cases.find((candidate) => candidate.name === name);
      if (!test) {
        throw new RootstockError(
          "ERR_CHECK_TEST_MODULE",
          `test module ${display}: evidence.${kind} names "${name}", which is not a test of the module`,
          { file: display, hint: `its tests: ${cases.map((candidate) => `"${candidate.name}"`).join(", ")}` },
        );
      }
      test.evidence.push(kind as EvidenceKind);
    }
  }
}
