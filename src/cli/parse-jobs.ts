import { RootstockError } from "../errors.ts";

/** Parses a `--jobs N` flag: a whole number from 1 to 64. */
export function parseJobs(value: string | undefined, fallback: number): number {
  return parseCount("--jobs", value) ?? fallback;
}

/** Parses a count flag (`--jobs N`, `--machines N`): a whole number from 1 to 64, or undefined if absent. */
export function parseCount(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const count = Number(value);
  if (!Number.isInteger(count) || count < 1 || count > 64) {
    throw new RootstockError(
      "ERR_CLI_BAD_JOBS",
      `${flag} ${JSON.stringify(value)}: expected a whole number from 1 to 64`,
      { hint: `for example ${flag} 2` },
    );
  }
  return count;
}
