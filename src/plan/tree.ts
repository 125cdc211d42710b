/**
 * Reads and hashes the files a plan ships (scripts, patches, files/), refusing anything that escapes it.
 * Synchronous: a plan is many tiny files, read while nothing else runs.
 */
import { digestFileSync, sha256Text } from "../digest.ts";
import { RootstockError } from "../errors.ts";
import type { PlanFileEntry } from "./types.ts";

const { lstatSync, readdirSync, readlinkSync, realpathSync, statSync } = process.getBuiltinModule("node:fs");
const { dirname, join, relative, resolve, sep } = process.getBuiltinModule("node:path");

export interface TreeContext {
  /** The plan folder, absolute: nothing may point outside it. */
  planDir: string;
  /** How the plan folder is shown in messages. */
  displayDir: string;
  /** The plan folder with its links resolved. */
  planReal: string;
}

function display(context: TreeContext, absolute: string): string {
  return join(context.displayDir, relative(context.planDir, absolute));
}

function realpathOrUndefined(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

/** Why a path's links cannot be resolved (ENOENT, ELOOP, …), or undefined when they can. */
function realpathError(path: string): string | undefined {
  try {
    realpathSync(path);
    return undefined;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? "ENOENT";
  }
}

/** What is wrong with a symbolic link that leads nowhere, or undefined when `path` is no such link. */
export function brokenLink(path: string): string | undefined {
  let target: string;
  try {
    target = readlinkSync(path);
  } catch {
    return undefined;
  }
  const broken = realpathError(path);
  if (broken === undefined) return undefined;
  return broken === "ELOOP"
    ? `symbolic link to ${target}, whose links lead round in a loop`
    : `symbolic link to ${target}, which does not exist`;
}

function inside(parent: string, child: string): boolean {
  return child === parent || child.startsWith(parent + sep);
}

/**
 * Refuses a path of the plan that a link leads outside it (plan.toml, a step's folder, its patches/ or
 * files/, a file in them): a plan must carry every file it uses, and the plan cache watches only what is
 * inside the plan folder. An absent path passes: the caller says what is missing.
 */
export function checkInsidePlan(context: TreeContext, absolute: string): void {
  const real = realpathOrUndefined(absolute);
  if (real === undefined || inside(context.planReal, real)) return;
  throw new RootstockError("ERR_PLAN_PATH_ESCAPES", `a link leads outside the plan (to ${real})`, {
    file: display(context, absolute),
    hint: "a plan must carry every file it uses; copy it into the plan instead of linking to it",
  });
}

/** Hashes one file of the plan; `base` is the folder its entry path is relative to. */
export function readPlanFile(context: TreeContext, base: string, path: string): PlanFileEntry {
  const absolute = resolve(base, path);
  const info = lstatSync(absolute);
  if (info.isSymbolicLink()) {
    const target = readlinkSync(absolute);
    const broken = brokenLink(absolute);
    if (broken !== undefined) {
      throw new RootstockError("ERR_PLAN_BAD_FILE", broken, {
        file: display(context, absolute),
        hint: "point the link at a file inside the plan, or remove it",
      });
    }
    checkInsidePlan(context, absolute);
    if (!statSync(absolute).isFile()) {
      throw new RootstockError(
        "ERR_PLAN_BAD_FILE",
        `symbolic link to ${target}, which is not a regular file`,
        {
          file: display(context, absolute),
          hint: "a link here must lead to a file; put the folder itself here instead of a link to it",
        },
      );
    }
    const entry = readPlanFile(context, dirname(absolute), target);
    return { ...entry, path, symlink: target };
  }
  if (!info.isFile()) {
    throw new RootstockError("ERR_PLAN_BAD_FILE", "expected a regular file", {
      file: display(context, absolute),
      hint: "plans hold regular files, folders and links inside the plan only",
    });
  }
  // The file itself is no link, but a folder on its way may be (a linked patches/ or files/).
  checkInsidePlan(context, absolute);
  const digest = digestFileSync(absolute);
  return { path, sha256: digest.sha256, size: digest.size, executable: (info.mode & 0o111) !== 0 };
}

/**
 * Every file under `dir` (recursively), sorted by path; an absent folder is empty. With `keepLinks` (an
 * image's files, whose links point into the image: `bin/sh -> busybox`, `etc/mtab -> /proc/mounts`), a
 * link is an entry of its own, its target text hashed, and is not followed.
 */
export function readPlanTree(context: TreeContext, dir: string, { keepLinks = false } = {}): PlanFileEntry[] {
  const entries: PlanFileEntry[] = [];
  const walk = (relativeDir: string): void => {
    const absoluteDir = join(dir, relativeDir);
    const names = readdirSync(absoluteDir).sort();
    for (const name of names) {
      const path = relativeDir === "" ? name : `${relativeDir}/${name}`;
      const info = lstatSync(join(dir, path), { throwIfNoEntry: false });
      // Node reads a name that is not UTF-8 with U+FFFD in place of its bytes: by that name it is not there.
      if (info === undefined) {
        if (name.includes("\uFFFD"))
          throw new RootstockError(
            "ERR_PLAN_BAD_FILE",
            `the file name ${JSON.stringify(name)} is not valid UTF-8 text`,
            {
              file: display(context, join(dir, path)),
              hint: "rename it to UTF-8 (`convmv -f latin1 -t utf8 --notest FILE`, or mv): rootstock reads names as UTF-8",
            },
          );
        // Removed while the plan was read: it is no part of it.
        continue;
      }
      if (info.isDirectory()) walk(path);
      else if (keepLinks && info.isSymbolicLink()) {
        const target = readlinkSync(join(dir, path));
        entries.push({
          path,
          sha256: sha256Text(target),
          size: Buffer.byteLength(target),
          executable: false,
          symlink: target,
        });
      } else entries.push(readPlanFile(context, dir, path));
    }
  };
  checkInsidePlan(context, dir);
  try {
    walk("");
  } catch (error) {
    const { code, path = dir } = error as NodeJS.ErrnoException;
    const broken = code === "ENOENT" || code === "ELOOP" ? brokenLink(path) : undefined;
    if (broken !== undefined || code === "ELOOP" || code === "ENOTDIR")
      throw new RootstockError(
        "ERR_PLAN_BAD_FILE",
        broken !== undefined
          ? `expected a folder, found a ${broken}`
          : code === "ELOOP"
            ? "cannot be reached: a link on its way leads round in a loop"
            : "expected a folder, found a file",
        {
          file: display(context, path),
          hint: "a step's patches/ and files/, and an image's files, are folders of the plan (or links to them)",
        },
      );
    if (code === "ENOENT" && relative(dir, path) === "") return [];
    throw error;
  }
  return entries;
}
