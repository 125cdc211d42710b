/** Turns schema issues into RootstockErrors that name the file, line, field, expectation and value. */
import type { z } from "zod";
import { RootstockError } from "../errors.ts";
import { describeValue } from "./describe.ts";
import { formatKeyPath, type KeyLocator, type KeyPath } from "./locate.ts";
import { didYouMean } from "./suggest.ts";

interface Where {
  file: string;
  locator: KeyLocator;
  schema: z.ZodType;
}

export function schemaProblems(issues: readonly z.core.$ZodIssue[], where: Where): RootstockError[] {
  const problems: RootstockError[] = [];
  for (const issue of issues) {
    const path = issue.path.filter((part): part is string | number => typeof part !== "symbol");
    if (issue.code === "unrecognized_keys") {
      const known = knownKeys(where.schema, path);
      for (const key of issue.keys) {
        const keyPath = [...path, key];
        const suggestion = didYouMean(key, known);
        problems.push(
          new RootstockError("ERR_PLAN_UNKNOWN_KEY", `unknown key "${key}"`, {
            file: where.file,
            line: where.locator.lineOf(keyPath),
            field: formatKeyPath(keyPath),
            hint: suggestion || (known.length > 0 ? `known keys here: ${known.join(", ")}` : undefined),
          }),
        );
      }
      continue;
    }
    problems.push(withHint(problemFor(issue, path, where), where.file));
  }
  return problems;
}

/** Every problem says where to read on, when it has nothing more particular to say. */
function withHint(problem: RootstockError, file: string): RootstockError {
  if (problem.hint !== undefined) return problem;
  const which = file.endsWith("step.toml") ? "step.toml" : "plan.toml";
  return new RootstockError(problem.code, problem.message, {
    ...problem.location,
    hint: `docs/plans.md shows each field of ${which}, with an example`,
  });
}

function problemFor(issue: z.core.$ZodIssue, path: KeyPath, where: Where): RootstockError {
  const location = {
    file: where.file,
    line: where.locator.lineOf(path),
    field: formatKeyPath(path) || undefined,
  };
  const input = (issue as { input?: unknown }).input;
  switch (issue.code) {
    case "invalid_type":
      if (input === undefined) {
        return new RootstockError(
          "ERR_PLAN_MISSING_FIELD",
          `required field is missing (expected ${article(issue.expected)})`,
          {
            ...location,
            hint:
              path.length === 1 && path[0] === "stages"
                ? "add a [[stages]] table for each stage, with its name and steps"
                : `add \`${path[path.length - 1]} = …\``,
          },
        );
      }
      return new RootstockError(
        "ERR_PLAN_BAD_VALUE",
        customOr(issue, `expected ${article(issue.expected)}, got ${describeValue(input)}`),
        { ...location, hint: typeHint(issue.expected, input, path) },
      );
    case "invalid_value": {
      const values = issue.values.map((value) => JSON.stringify(value));
      return new RootstockError(
        "ERR_PLAN_BAD_VALUE",
        `expected one of ${values.join(", ")}, got ${describeValue(input)}`,
        {
          ...location,
          hint:
            typeof input === "string" ? didYouMean(input, issue.values.map(String)) || undefined : undefined,
        },
      );
    }
    case "too_small":
    case "too_big": {
      const bound = issue.code === "too_small" ? issue.minimum : issue.maximum;
      const inclusive = (issue as { inclusive?: boolean }).inclusive !== false;
      const relation =
        issue.code === "too_small"
          ? inclusive
            ? "at least"
            : "a number above"
          : inclusive
            ? "at most"
            : "a number below";
      const unit = issue.origin === "array" ? " item(s)" : issue.origin === "string" ? " character(s)" : "";
      const custom = customOr(issue, "");
      return new RootstockError(
        "ERR_PLAN_BAD_VALUE",
        custom || `expected ${relation} ${String(bound)}${unit}, got ${describeValue(input)}`,
        location,
      );
    }
    case "invalid_key": {
      const inner = issue.issues[0]?.message ?? "invalid key";
      // Our key messages name the key already.
      const message = /, got /.test(inner) ? inner : `${inner}, got ${describeValue(input)}`;
      return new RootstockError("ERR_PLAN_BAD_VALUE", message, location);
    }
    case "invalid_union":
      return new RootstockError(
        "ERR_PLAN_BAD_VALUE",
        customOr(issue, `unexpected value ${describeValue(input)}`),
        location,
      );
    default:
      return new RootstockError("ERR_PLAN_BAD_VALUE", issue.message, location);
  }
}

/** zod fills in its own wording when a schema gave none; ours names the value, so prefer it. */
function customOr(issue: z.core.$ZodIssue, fallback: string): string {
  return /^(Invalid input|Too small|Too big|Invalid option)/.test(issue.message) ? fallback : issue.message;
}

function article(expected: string): string {
  const words: Record<string, string> = {
    string: "a string",
    number: "a number",
    int: "an integer",
    boolean: "true or false",
    array: "a list",
    object: "a table",
    record: "a table",
  };
  return words[expected] ?? expected;
}

type AnyDef = {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  element?: z.ZodType;
  valueType?: z.ZodType;
  in?: z.ZodType;
};

/** The keys a table accepts at `path`, read from the schema itself so suggestions never go stale. */
export function knownKeys(schema: z.ZodType, path: KeyPath): string[] {
  let current: z.ZodType | undefined = schema;
  const unwrap = (node: z.ZodType): z.ZodType => {
    let def = node._zod.def as unknown as AnyDef;
    let result = node;
    while (def.innerType !== undefined || def.in !== undefined) {
      result = (def.innerType ?? def.in) as z.ZodType;
      def = result._zod.def as unknown as AnyDef;
    }
    return result;
  };
  for (const part of path) {
    if (current === undefined) return [];
    const def = unwrap(current)._zod.def as unknown as AnyDef;
    if (def.type === "object") current = def.shape?.[String(part)];
    else if (def.type === "array") current = def.element;
    else if (def.type === "record") current = def.valueType;
    else return [];
  }
  if (current === undefined) return [];
  const def = unwrap(current)._zod.def as unknown as AnyDef;
  return def.type === "object" && def.shape ? Object.keys(def.shape) : [];
}

/** How to write what was expected, for the mistakes TOML makes easy. */
function typeHint(expected: string, input: unknown, path: KeyPath): string | undefined {
  const key = path[path.length - 1];
  if (expected === "array" && typeof input === "object" && input !== null && typeof key === "string")
    return `a list of tables is written [[${formatKeyPath(path)}]], once per item`;
  if (expected === "array" && typeof key === "string")
    return `write a list: ${key} = [${JSON.stringify(input)}]`;
  if (expected === "number" && typeof input === "string") return "write the number without quotes";
  if (expected === "boolean" && typeof input === "string") return "write true or false without quotes";
  return undefined;
}
