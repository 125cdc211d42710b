/** Reads and hashes the files a plan ships (scripts, patches, files/), refusing anything that escapes it. */
import { digestFile } from "../digest.ts";
import { RootstockError } from "../errors.ts";
import type { PlanFileEntry } from "./types.ts";

const { lstat, readdir, readlink, realpath } = process.getBuiltinModule("node:fs/promises");
const { dirname, join, relative, resolve, sep } = process.getBuiltinModule("node:path");

export interface TreeContext {
  /** The plan folder, absolute: nothing may point outside it. */
  planDir: string;
  /** How the plan folder is shown in messages. */
  displayDir: string;
}

function display(context: TreeContext, absolute: string): string {
  return join(context.displayDir, relative(context.planDir, absolute));
}

function inside(parent: string, child: string): boolean {
  return child === parent || child.startsWith(parent + sep);
}

/** Hashes one file of the plan; `base` is the folder its entry path is relative to. */
export async function readPlanFile(context: TreeContext, base: string, path: string): Promise<PlanFileEntry> {
  const absolute = resolve(base, path);
  const info = await lstat(absolute);
  if (info.isSymbolicLink()) {
    const target = await readlink(absolute);
    const real = await realpath(absolute).catch(() => undefined);
    const planReal = await realpath(context.planDir);
    if (real === undefined || !inside(planReal, real)) {
      throw new RootstockError(
        "ERR_PLAN_PATH_ESCAPES",
        `symbolic link points outside the plan (to ${target})`,
        {
          file: display(context, absolute),
          hint: "a plan must carry every file it uses; copy the file into the plan instead of linking to it",
        },
      );
    }
    const entry = await readPlanFile(context, dirname(absolute), target);
    return { ...entry, path, symlink: target };
  }
  if (!info.isFile()) {
    throw new RootstockError("ERR_PLAN_BAD_FILE", "expected a regular file", {
      file: display(context, absolute),
      hint: "plans hold regular files, folders and links inside the plan only",
    });
  }
  const digest = await digestFile(absolute);
  return { path, sha256: digest.sha256, size: digest.size, executable: (info.mode & 0o111) !== 0 };
}

/** Every file under `dir` (recursively), sorted by path; an absent folder is empty. */
export async function readPlanTree(context: TreeContext, dir: string): Promise<PlanFileEntry[]> {
  const entries: PlanFileEntry[] = [];
  const walk = async (relativeDir: string): Promise<void> => {
    const absoluteDir = join(dir, relativeDir);
    const names = (await readdir(absoluteDir)).sort();
    for (const name of names) {
      const path = relativeDir === "" ? name : `${relativeDir}/${name}`;
      const info = await lstat(join(dir, path));
      if (info.isDirectory()) await walk(path);
      else entries.push(await readPlanFile(context, dir, path));
    }
  };
  try {
    await walk("");
  } catch (error) {
    if (
      (error as NodeJS.ErrnoException).code === "ENOENT" &&
      relative(dir, (error as NodeJS.ErrnoException).path ?? "") === ""
    )
      return [];
    throw error;
  }
  return entries;
}
