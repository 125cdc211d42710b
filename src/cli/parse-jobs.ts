import { RootstockError } from "../errors.ts";

/** Parses a `--jobs N` flag: a whole number from 1 to 64. */
export function parseJobs(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const jobs = Number(value);
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > 64) {
    throw new RootstockError(
      "ERR_CLI_BAD_JOBS",
      `--jobs ${JSON.stringify(value)}: expected a whole number from 1 to 64`,
      {
        hint: "for example --jobs 4",
      },
    );
  }
  return jobs;
}
