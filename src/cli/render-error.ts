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
    renderHint(error, context, "");
    return EXIT_USER_ERROR;
  }
  if (error instanceof RootstockError) {
    renderOne(error, context, "");
    return EXIT_USER_ERROR;
  }
  const refusal = fileSystemRefusal(error, storeOf(context));
  if (refusal) {
    renderOne(refusal, context, "");
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
  // A message of several lines (a source and its attempts) keeps its code on the first one.
  const [headline, ...details] = error.headline.split("\n");
  context.err(`${indent}${label}${headline} ${context.style("dim", `[${error.code}]`)}`);
  for (const line of details) context.err(`${indent}  ${line}`);
  renderHint(error, context, indent);
  if (error instanceof RootstockErrors)
    for (const inner of error.errors) renderOne(inner, context, `${indent}  `);
}

function renderHint(error: RootstockError, context: CliContext, indent: string): void {
  if (!error.hint) return;
  const [first, ...rest] = error.hint.split("\n");
  context.err(`${indent}  ${context.style("cyan", "hint")}: ${first}`);
  for (const line of rest) context.err(`${indent}        ${line}`);
}

/** System calls that only read: their refusal is about reading, whatever the path. */
const READING = new Set(["read", "scandir", "opendir", "stat", "lstat", "access", "readlink", "realpath"]);

const REFUSALS: Record<string, string> = {
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "the file system is read-only",
  ENOTDIR: "a part of its path is not a folder",
  ENOSPC: "no space is left on the device",
  EDQUOT: "the disk quota is exceeded",
};

/**
 * The file system refusing a read or a write is the state of the store or of a path the user gave, not
 * a bug in rootstock: a store the user cannot write, a full disk, a read-only --out folder, a plan file
 * of mode 000. Any command can meet it first.
 */
export function fileSystemRefusal(error: unknown, storeDir: string | undefined): RootstockError | undefined {
  const { code, path, syscall } = (error ?? {}) as NodeJS.ErrnoException;
  const reason = code === undefined ? undefined : REFUSALS[code];
  if (reason === undefined || typeof path !== "string") return undefined;
  const full = code === "ENOSPC" || code === "EDQUOT";
  // open() reads or writes; the store is only written, a plan or a given path may be either.
  const inStore = storeDir !== undefined && (path === storeDir || path.startsWith(`${storeDir}/`));
  if (syscall !== undefined && (READING.has(syscall) || (syscall === "open" && !inStore))) {
    return new RootstockError(
      "ERR_PATH_UNREADABLE",
      `cannot ${syscall === "open" ? "open" : "read"} ${path}: ${reason}`,
      { hint: "check its permissions, and its folders' (read, and search for folders)", cause: error },
    );
  }
  if (!inStore) {
    return new RootstockError("ERR_PATH_UNWRITABLE", `cannot write ${path}: ${reason}`, {
      hint: full ? "free space on that disk, or give a path on another" : "give a path you can write",
      cause: error,
    });
  }
  const at = path === storeDir ? "" : ` (at ${path})`;
  return new RootstockError("ERR_STORE_UNWRITABLE", `cannot write the store ${storeDir}: ${reason}${at}`, {
    hint: full
      ? "free space with `rootstock gc`, or choose another store with --store DIR or $ROOTSTOCK_STORE"
      : "the store must be a folder you can write; choose one with --store DIR or $ROOTSTOCK_STORE",
    cause: error,
  });
}

/** The store, unless its very location is what is wrong. */
function storeOf(context: CliContext): string | undefined {
  try {
    return context.storeDir;
  } catch {
    return undefined;
  }
}
