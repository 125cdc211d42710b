/** How an error reaches a person: headline, hint, code. A stack trace only for bugs. */
import { RootstockError, RootstockErrors } from "../errors.ts";
import { locateLines } from "../plan/locate.ts";
import { fileSystemRefusal } from "../store/fs-refusal.ts";
import { visibleText } from "../units.ts";
import type { CliContext } from "./context.ts";

export const EXIT_USER_ERROR = 1;
export const EXIT_BUG = 70;

export function renderError(error: unknown, context: CliContext): number {
  if (error instanceof RootstockError) locateLines(error);
  if (error instanceof RootstockErrors) {
    context.err(
      `${context.styleErr(["bold", "red"], "error")}: ${visibleText(error.message)} ${context.styleErr("dim", `[${error.code}]`)}`,
    );
    for (const inner of error.errors) renderOne(inner, context, "  ");
    renderHint(error, context, "");
    renderReport(error, context);
    return EXIT_USER_ERROR;
  }
  if (error instanceof RootstockError) {
    renderOne(error, context, "");
    renderReport(error, context);
    return EXIT_USER_ERROR;
  }
  const refusal = fileSystemRefusal(error, storeOf(context));
  if (refusal) {
    renderOne(refusal, context, "");
    return EXIT_USER_ERROR;
  }
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  context.err(
    `${context.styleErr(["bold", "red"], "internal error")}: this is a bug in rootstock, please report it with the text below.`,
  );
  context.err(detail);
  return EXIT_BUG;
}

function renderOne(error: RootstockError, context: CliContext, indent: string): void {
  const label = indent === "" ? `${context.styleErr(["bold", "red"], "error")}: ` : "- ";
  // A message of several lines (a source and its attempts) keeps its code on the first one.
  const [headline, ...details] = visibleText(error.headline).split("\n");
  context.err(`${indent}${label}${headline} ${context.styleErr("dim", `[${error.code}]`)}`);
  for (const line of details) context.err(`${indent}  ${line}`);
  renderHint(error, context, indent);
  if (error instanceof RootstockErrors)
    for (const inner of error.errors) renderOne(inner, context, `${indent}  `);
}

/** The report of the run the error ended: it keeps what the terminal showed, beside the run's journal. */
function renderReport(error: RootstockError, context: CliContext): void {
  if (error.report) context.err(`  report: ${error.report}`);
}

function renderHint(error: RootstockError, context: CliContext, indent: string): void {
  if (!error.hint) return;
  const [first, ...rest] = visibleText(error.hint).split("\n");
  context.err(`${indent}  ${context.styleErr("cyan", "hint")}: ${first}`);
  for (const line of rest) context.err(`${indent}        ${line}`);
}

/** The store, unless its very location is what is wrong. */
function storeOf(context: CliContext): string | undefined {
  try {
    return context.storeDir;
  } catch {
    return undefined;
  }
}
