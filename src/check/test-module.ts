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
 */
import { pathToFileURL } from "node:url";
import { describeCause, RootstockError } from "../errors.ts";
import type { Machine } from "./machine.ts";

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

export interface TestCase {
  name: string;
  run: TestFunction;
}

/** Imports a test module and lists its cases; `display` names it in messages. */
export async function loadTestModule(path: string, display: string): Promise<TestCase[]> {
  let loaded: { default?: unknown };
  try {
    loaded = (await import(pathToFileURL(path).href)) as { default?: unknown };
  } catch (error) {
    throw new RootstockError(
      "ERR_CHECK_TEST_MODULE",
      `cannot load test module ${display}: ${describeCause(error)}`,
      {
        file: display,
        cause: error,
        hint: "a test module is TypeScript that Node runs by stripping types: erasable syntax only, relative imports ending in .ts",
      },
    );
  }
  const tests = loaded.default;
  const shape =
    'export default { async "boots to a shell"(machine) { await machine.succeed("true"); } } satisfies TestModule;';
  if (tests === null || typeof tests !== "object") {
    throw new RootstockError(
      "ERR_CHECK_TEST_MODULE",
      `test module ${display} has no default export of test cases`,
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
    cases.push({ name, run: run as TestFunction });
  }
  if (cases.length === 0) {
    throw new RootstockError("ERR_CHECK_TEST_MODULE", `test module ${display} declares no tests`, {
      file: display,
      hint: `write: ${shape}`,
    });
  }
  return cases;
}
