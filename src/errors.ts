/**
 * The one error type users see. A code is stable and never reused; the message names the file, line,
 * field and value; the hint says what to do. Anything thrown that is not a RootstockError is a bug.
 */
import { typedWord } from "./units.ts";

export type ErrorCode = `ERR_${string}`;

export interface ErrorLocation {
  /** Path as the user would type it (relative to the plan folder where there is one). */
  file?: string;
  line?: number;
  /** Field path such as `sources[0].sha256`. */
  field?: string;
}

export interface RootstockErrorOptions extends ErrorLocation {
  hint?: string;
  cause?: unknown;
}

export class RootstockError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly location: ErrorLocation;
  /** The report of the run this error ended, when it ended one (the command line points at it). */
  report?: string;

  constructor(code: ErrorCode, message: string, options: RootstockErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "RootstockError";
    this.code = code;
    this.hint = options.hint;
    const { file, line, field } = options;
    this.location = {
      ...(file === undefined ? {} : { file }),
      ...(line === undefined ? {} : { line }),
      ...(field === undefined ? {} : { field }),
    };
  }

  /** `file:line: field: message` — the first line a person reads. */
  get headline(): string {
    const { file, line, field } = this.location;
    // A path with a line break (a plan folder so named) would split the headline: shown as typed.
    const path = file !== undefined && /\p{Cc}/u.test(file) ? typedWord(file) : file;
    const where = path === undefined ? "" : line === undefined ? `${path}: ` : `${path}:${line}: `;
    const what = field === undefined ? "" : `${field}: `;
    return `${where}${what}${this.message}`;
  }
}

/** Several problems found in one pass (a plan is validated whole, not one error per run). */
export class RootstockErrors extends RootstockError {
  readonly errors: readonly RootstockError[];

  constructor(
    code: ErrorCode,
    summary: string,
    errors: readonly RootstockError[],
    options: RootstockErrorOptions = {},
  ) {
    super(code, summary, options);
    this.name = "RootstockErrors";
    this.errors = errors;
  }
}

/** The error as plain text, as the terminal gives it but for colour: headline, the errors it gathers, hints. */
export function errorText(error: RootstockError): string {
  const lines = [`${error.headline} [${error.code}]`];
  if (error instanceof RootstockErrors)
    for (const inner of error.errors) {
      // Its code on its first line, as the terminal has it; its further lines (each place tried) under it.
      const [first = "", ...rest] = inner.headline.split("\n");
      lines.push(`  - ${first} [${inner.code}]`, ...rest.map((line) => `    ${line}`));
      if (inner.hint) lines.push(`    hint: ${inner.hint}`);
    }
  if (error.hint) lines.push(`  hint: ${error.hint}`);
  return lines.join("\n");
}

export function isRootstockError(value: unknown): value is RootstockError {
  return value instanceof RootstockError;
}

/** Turns a caught value into something with a message, for wrapping as a cause. */
export function describeCause(value: unknown): string {
  if (value instanceof Error) return value.message;
  return String(value);
}
