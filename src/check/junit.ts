/** Test results as JUnit XML, the format CI systems read. Pure. */
import { moduleStem } from "../report/model.ts";

export type TestStatus = "passed" | "failed" | "skipped";

export interface TestCaseResult {
  /** The image the machine booted. */
  image: string;
  /** The test module, as the plan names it (`tests/boot.test.ts`). */
  module: string;
  name: string;
  status: TestStatus;
  ms: number;
  /** Why it failed or was skipped. */
  message?: string;
  /** Error code for a failure (`ERR_CHECK_TIMEOUT`, or the error's name). */
  type?: string;
  /** The full failure text. */
  details?: string;
  /** The machine's console log. */
  consoleLog?: string;
}

export function renderJunit(cases: readonly TestCaseResult[], options: { name?: string } = {}): string {
  const suites = new Map<string, TestCaseResult[]>();
  for (const result of cases) {
    const key = `${result.image}/${result.module}`;
    suites.set(key, [...(suites.get(key) ?? []), result]);
  }
  const count = (list: readonly TestCaseResult[], status: TestStatus) =>
    list.filter((result) => result.status === status).length;
  const time = (list: readonly TestCaseResult[]) =>
    (list.reduce((sum, result) => sum + result.ms, 0) / 1000).toFixed(3);
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${xml(options.name ?? "rootstock")}" tests="${cases.length}" failures="${count(cases, "failed")}" skipped="${count(cases, "skipped")}" time="${time(cases)}">`,
  ];
  for (const [name, list] of suites) {
    lines.push(
      `  <testsuite name="${xml(name)}" tests="${list.length}" failures="${count(list, "failed")}" skipped="${count(list, "skipped")}" time="${time(list)}">`,
    );
    for (const result of list) {
      // package.class, as CI systems split it at the last dot: the image, then the module.
      const open = `    <testcase classname="${xml(`${result.image}.${moduleStem(result.module).replaceAll(".", "_").replaceAll("/", ".")}`)}" name="${xml(result.name)}" time="${(result.ms / 1000).toFixed(3)}"`;
      const body: string[] = [];
      if (result.status === "failed") {
        body.push(
          `      <failure message="${xml(firstLine(result.message ?? "failed"))}" type="${xml(result.type ?? "Error")}">${xml(result.details ?? result.message ?? "")}</failure>`,
        );
      } else if (result.status === "skipped") {
        body.push(`      <skipped message="${xml(result.message ?? "skipped")}"/>`);
      }
      if (result.consoleLog)
        body.push(`      <system-out>${xml(`console log: ${result.consoleLog}`)}</system-out>`);
      if (body.length === 0) lines.push(`${open}/>`);
      else lines.push(`${open}>`, ...body, "    </testcase>");
    }
    lines.push("  </testsuite>");
  }
  lines.push("</testsuites>", "");
  return lines.join("\n");
}

/** A test module by its file's stem (`tests/boot.test.ts` is `boot`), as its machine's folder is named. */

function firstLine(text: string): string {
  return text.split("\n")[0] ?? "";
}

/** Escapes text for XML, dropping the control characters XML 1.0 cannot carry at all. */
export function xml(text: string): string {
  return (
    text
      // biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters XML forbids
      .replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]/g, "")
      .replaceAll("&", "&amp;")
      .replaceAll("<", "&lt;")
      .replaceAll(">", "&gt;")
      .replaceAll('"', "&quot;")
      .replaceAll("'", "&apos;")
  );
}
