/**
 * Finds the line where a key path is written in a TOML file, so that validation errors can point at
 * it. smol-toml gives values, not positions; this scanner knows tables, arrays of tables and (dotted)
 * keys, which is where people make mistakes. A path it cannot see (an element of an inline array)
 * falls back to the nearest enclosing key.
 */
import { type RootstockError, RootstockErrors } from "../errors.ts";

const { readFileSync } = process.getBuiltinModule("node:fs");

export type KeyPath = readonly (string | number)[];

/**
 * Gives each error whose field is in a TOML file (and each error it gathers) the line of that field.
 * Errors found after the plan was loaded (a `--set` value, a host tool the host lacks) name file and
 * field only: the loaded plan does not keep its text, and a run that goes well should not read it
 * again. Called once an error is on its way to a person, the journal or `--json`.
 */
export function locateLines(error: RootstockError): void {
  const location = error.location;
  const { file, line, field } = location;
  if (line === undefined && file !== undefined && field !== undefined && file.endsWith(".toml")) {
    try {
      const found = new KeyLocator(readFileSync(file, "utf8")).lineOfField(field);
      if (found !== undefined) location.line = found;
    } catch {
      // A file gone or unreadable since keeps its error without a line.
    }
  }
  if (error instanceof RootstockErrors) for (const inner of error.errors) locateLines(inner);
}

export class KeyLocator {
  readonly #text: string;
  #scanned: Map<string, number> | undefined;

  constructor(text: string) {
    this.#text = text;
  }

  /** Scanned at the first question: most files have no mistake, and nothing is ever asked of them. */
  get #lines(): Map<string, number> {
    if (this.#scanned === undefined) {
      this.#scanned = new Map();
      this.#scan(this.#text);
    }
    return this.#scanned;
  }

  #scan(text: string): void {
    const arrayCounts = new Map<string, number>();
    let table: string[] = [];
    let depth = 0;
    let multiline: string | undefined;
    const lines = text.split(/\r?\n/);
    for (let index = 0; index < lines.length; index++) {
      const lineNumber = index + 1;
      let line = lines[index] as string;
      if (multiline !== undefined) {
        const end = line.indexOf(multiline);
        if (end < 0) continue;
        multiline = undefined;
        line = line.slice(end + 3);
      }
      const code = stripComment(line);
      if (depth > 0) {
        depth = Math.max(0, depth + bracketBalance(code));
        continue;
      }
      const header = /^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*$/.exec(code);
      if (header) {
        const keys = splitKey(header[2] as string);
        table = resolveArrayTables(keys, arrayCounts, header[1] === "[[");
        this.#remember(table.join("."), lineNumber);
        // `[[stage]]` misspelt is reported as the key `stage`: its first header is where.
        this.#remember(keys.join("."), lineNumber);
        continue;
      }
      const assignment =
        /^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=(.*)$/.exec(
          code,
        );
      if (!assignment) continue;
      const keys = splitKey(assignment[1] as string);
      const full = [...table, ...keys];
      for (let end = table.length + 1; end <= full.length; end++)
        this.#remember(full.slice(0, end).join("."), lineNumber);
      const value = assignment[2] as string;
      for (const quote of ['"""', "'''"]) {
        const start = value.indexOf(quote);
        if (start >= 0 && value.indexOf(quote, start + 3) < 0) multiline = quote;
      }
      if (multiline === undefined) {
        this.#rememberInline(full.join("."), value, lineNumber);
        depth = Math.max(0, bracketBalance(value));
      }
    }
  }

  #remember(path: string, line: number): void {
    if (!this.#lines.has(path)) this.#lines.set(path, line);
  }

  /** `debian = { package = "x" }` names `debian.package` on the same line. */
  #rememberInline(prefix: string, value: string, line: number): void {
    for (const match of value.matchAll(/[{,]\s*([A-Za-z0-9_-]+)\s*=/g))
      this.#remember(`${prefix}.${match[1]}`, line);
  }

  /** The line of a field as errors name it (`sources[0].sha256`), or of its nearest written parent. */
  lineOfField(field: string): number | undefined {
    const path = [...field.matchAll(/\[(\d+)\]|[^.[\]]+/g)].map((match) =>
      match[1] === undefined ? match[0] : Number(match[1]),
    );
    return path.length === 0 ? undefined : this.lineOf(path);
  }

  /** The line of the longest prefix of `path` written in the file, if any. */
  lineOf(path: KeyPath): number | undefined {
    for (let end = path.length; end > 0; end--) {
      const line = this.#lines.get(formatKeyPath(path.slice(0, end)));
      if (line !== undefined) return line;
    }
    return undefined;
  }
}

/** `sources[0].sha256` — the form used in messages and as lookup key. */
export function formatKeyPath(path: KeyPath): string {
  let text = "";
  for (const part of path) {
    if (typeof part === "number") text += `[${part}]`;
    else text += text === "" ? part : `.${part}`;
  }
  return text;
}

/**
 * Maps header keys to a path with array indexes: `[[sources]]` is `sources[N]` (a new element), and
 * `[sources.debian]` belongs to the latest `sources` element.
 */
function resolveArrayTables(
  keys: string[],
  arrayCounts: Map<string, number>,
  isArrayHeader: boolean,
): string[] {
  const resolved: string[] = [];
  const plain: string[] = [];
  keys.forEach((key, index) => {
    plain.push(key);
    const base = plain.join(".");
    const last = index === keys.length - 1;
    if (last && isArrayHeader) {
      const count = arrayCounts.get(base) ?? 0;
      arrayCounts.set(base, count + 1);
      resolved.push(`${key}[${count}]`);
    } else {
      const count = arrayCounts.get(base);
      resolved.push(count === undefined ? key : `${key}[${count - 1}]`);
    }
  });
  return resolved;
}

function splitKey(key: string): string[] {
  const parts: string[] = [];
  for (const match of key.matchAll(/"([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+)/g)) {
    parts.push((match[1] ?? match[2] ?? match[3]) as string);
  }
  return parts;
}

function stripComment(line: string): string {
  let quote: string | undefined;
  for (let index = 0; index < line.length; index++) {
    const char = line[index];
    if (quote !== undefined) {
      if (char === "\\" && quote === '"') index++;
      else if (char === quote) quote = undefined;
    } else if (char === '"' || char === "'") {
      quote = char;
    } else if (char === "#") {
      return line.slice(0, index);
    }
  }
  return line;
}

function bracketBalance(code: string): number {
  let balance = 0;
  let quote: string | undefined;
  for (let index = 0; index < code.length; index++) {
    const char = code[index];
    if (quote !== undefined) {
      if (char === "\\" && quote === '"') index++;
      else if (char === quote) quote = undefined;
    } else if (char === '"' || char === "'") quote = char;
    else if (char === "[" || char === "{") balance++;
    else if (char === "]" || char === "}") balance--;
  }
  return balance;
}
