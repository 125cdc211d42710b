/** Options several commands share, spelled and explained the same way everywhere, and read alike. */
import { Option } from "commander";
import { RootstockError } from "../errors.ts";
import { didYouMean } from "../plan/suggest.ts";
import type { Plan } from "../plan/types.ts";

const { lstatSync, readdirSync, readlinkSync, realpathSync, statfsSync, statSync } =
  process.getBuiltinModule("node:fs");
const { dirname, isAbsolute, join, relative, resolve } = process.getBuiltinModule("node:path");

const collect = (value: string, previous: string[]) => [...previous, value];

export const jobsOption = () =>
  new Option("-j, --jobs <n>", "steps built at once (default: the number of cores)");

export const offlineBuildOption = () =>
  new Option("--offline", "fetch nothing: fail, listing every missing source, if one is not in the store");

export const mirrorOption = () =>
  new Option(
    "--mirror <mirror>",
    "a mirror (folder or URL) tried first when fetching (repeatable; also $ROOTSTOCK_MIRRORS)",
  )
    .argParser(collect)
    .default([]);

export const setOption = () =>
  new Option("--set <name=value>", "override a plan variable (repeatable)").argParser(collect).default([]);

export const machinesOption = () =>
  new Option("--machines <n>", "test machines running at once (default: the number of cores)");

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

/**
 * Mirrors from `--mirror` flags, then from $ROOTSTOCK_MIRRORS (separated by whitespace), relative
 * folders made absolute against `cwd`.
 */
export function globalMirrors(
  flags: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  cwd?: string,
): string[] {
  const fromEnv = (env.ROOTSTOCK_MIRRORS ?? "").split(/\s+/).filter(Boolean);
  // Split at spaces, a folder with one falls apart, and a relative piece would quietly mean another
  // folder under the current one: the variable takes absolute paths and URLs only.
  const relative = fromEnv.find((spec) => !/^[a-z][a-z0-9+.-]*:/i.test(spec) && !isAbsolute(spec));
  if (relative !== undefined)
    throw new RootstockError(
      "ERR_MIRROR_BAD_SPEC",
      `$ROOTSTOCK_MIRRORS holds ${JSON.stringify(relative)}, which is neither an absolute path nor a URL`,
      {
        hint: "its mirrors are separated by spaces: write a folder whose path has a space as a file:/// URL with %20 (file:///media/USB%20stick/mirror)",
      },
    );
  if (flags.some((spec) => spec.trim() === "")) {
    // Resolved against the current folder, an empty one would quietly mean it.
    throw new RootstockError("ERR_MIRROR_BAD_SPEC", "--mirror is empty", {
      hint: "give a folder or an http(s) URL: --mirror /srv/mirror",
    });
  }
  return [...flags, ...fromEnv].map((spec) =>
    /^[a-z][a-z0-9+.-]*:/i.test(spec) || isAbsolute(spec) ? spec : resolve(cwd ?? process.cwd(), spec),
  );
}

/** A STEP argument (`log`, `shell`) must name a step of the plan. */
export function checkStepArgument(plan: Plan, step: string): void {
  if (plan.steps.has(step)) return;
  const steps = [...plan.steps.keys()];
  throw new RootstockError("ERR_PLAN_UNKNOWN_STEP", `no step named "${step}" in plan ${plan.name}`, {
    hint: didYouMean(step, steps) || `steps: ${steps.join(", ")}`,
  });
}

/** File systems of the kernel's (proc, sys, cgroup, debug, trace, security), where no folder can be made. */
const KERNEL_FILE_SYSTEMS = new Set([
  0x9fa0, 0x62656572, 0x27e0eb, 0x63677270, 0x64626720, 0x74726163, 0x73636673,
]);

/**
 * A folder given on the command line (--store, --out, --disk-dir) that rootstock will make if need be:
 * its nearest existing ancestor must be a folder, and not one of the kernel's (Node's recursive mkdir
 * never returns there).
 */
/**
 * Whether a part of the path named with U+FFFD has a twin beside it whose name is not UTF-8 and reads
 * the same: the folder meant may be that one (typed as bytes), not the one of that name in UTF-8.
 */
function hasNonUtf8Twin(path: string): boolean {
  for (let part = path; dirname(part) !== part; part = dirname(part)) {
    const name = part.slice(dirname(part).length + (dirname(part) === "/" ? 0 : 1));
    if (!name.includes("\uFFFD")) continue;
    try {
      const utf8 = Buffer.from(name);
      const raw = readdirSync(dirname(part), { encoding: "buffer" });
      if (raw.some((bytes) => bytes.toString() === name && !bytes.equals(utf8))) return true;
    } catch {
      // A folder that cannot be listed: no twin known.
    }
  }
  return false;
}

function isThere(path: string): boolean {
  try {
    return lstatSync(path, { throwIfNoEntry: false }) !== undefined;
  } catch {
    return false;
  }
}

export function checkFolderArgument(flag: string, path: string): string {
  // An option's hint shows it written out (--out DIR); an argument's ("mirror folder") is a plain path.
  const written = (value: string) => (flag.startsWith("-") ? `${flag} ${value}` : value);
  if (path === "") {
    throw new RootstockError("ERR_CLI_BAD_FOLDER", `${flag} is empty`, {
      hint: flag.startsWith("-") ? `give a folder: ${written("DIR")}` : "give a folder",
    });
  }
  const absolute = resolve(path);
  // Node reads bytes that are not UTF-8 as U+FFFD: by that name the folder is not there, and one made by
  // it would be another folder (a store, a mirror) beside it.
  if (absolute.includes("\uFFFD") && (!isThere(absolute) || hasNonUtf8Twin(absolute)))
    throw new RootstockError(
      "ERR_CLI_BAD_FOLDER",
      `${flag} ${path}: its name is not valid UTF-8 (read as \uFFFD), and rootstock reads names as UTF-8`,
      {
        hint: "give a folder whose name is UTF-8 (one that is there: `convmv -f latin1 -t utf8 --notest DIR`, or mv, renames it)",
      },
    );
  let existing = absolute;
  // ENOTDIR as well as ENOENT: a path below a file does not exist either.
  const lookUp = (candidate: string, follow: boolean) => {
    try {
      return (follow ? statSync : lstatSync)(candidate, { throwIfNoEntry: false });
    } catch {
      return undefined;
    }
  };
  for (;;) {
    const info = lookUp(existing, true);
    if (info === undefined && lookUp(existing, false)?.isSymbolicLink()) {
      throw new RootstockError(
        "ERR_CLI_BAD_FOLDER",
        `${flag} ${path}: ${existing} is a link to ${readlinkSync(existing)}, which does not exist`,
        { hint: "make the folder the link points to, or give another path" },
      );
    }
    if (info !== undefined) {
      if (!info.isDirectory()) {
        throw new RootstockError(
          "ERR_CLI_BAD_FOLDER",
          `${flag} ${path}: ${existing} is a file, not a folder`,
          {
            hint: `give a folder, or a path where one can be made (${written(`${dirname(existing)}/…`)})`,
          },
        );
      }
      if (KERNEL_FILE_SYSTEMS.has(statfsSync(existing).type)) {
        throw new RootstockError(
          "ERR_CLI_BAD_FOLDER",
          `${flag} ${path}: ${existing} belongs to the kernel (like /proc and /sys); no folder can be made there`,
          { hint: "give a folder on a disk, such as one under your home or /tmp" },
        );
      }
      // Links resolved (/proc/self/cwd would mean another folder inside a sandbox's own process).
      return join(realpathSync(existing), relative(existing, absolute));
    }
    const parent = dirname(existing);
    if (parent === existing) return absolute;
    existing = parent;
  }
}
