/** How an error reaches a person: headline, hint, code. A stack trace only for bugs. */
import { RootstockError, RootstockErrors } from "../errors.ts";
import type { CliContext } from "./context.ts";

export const EXIT_USER_ERROR = 1;
export const EXIT_BUG = 70;

export function renderError(error: unknown, context: CliContext): number {
  if (error instanceof RootstockErrors) {
    context.err(
      `${context.style(["bold", "red"], "error")}: ${error.message} ${context.style("dim", `[${error.code}]`)}`,
    );
    for (const inner of error.errors) renderOne(inner, context, "  ");
    return EXIT_USER_ERROR;
  }
  if (error instanceof RootstockError) {
    renderOne(error, context, "");
    return EXIT_USER_ERROR;
  }
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  context.err(
    `${context.style(["bold", "red"], "internal error")}: this is a bug in rootstock, please report it with the text below.`,
  );
  context.err(detail);
  return EXIT_BUG;
}

function renderOne(error: RootstockError, context: CliContext, indent: string): void {
  const label = indent === "" ? `${context.style(["bold", "red"], "error")}: ` : "- ";
  context.err(`${indent}${label}${error.headline} ${context.style("dim", `[${error.code}]`)}`);
  if (error.hint) {
    const [first, ...rest] = error.hint.split("\n");
    context.err(`${indent}  ${context.style("cyan", "hint")}: ${first}`);
    for (const line of rest) context.err(`${indent}        ${line}`);
  }
  if (error instanceof RootstockErrors)
    for (const inner of error.errors) renderOne(inner, context, `${indent}  `);
}
