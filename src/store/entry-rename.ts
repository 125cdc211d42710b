/**
 * The two renames every store (outputs, images, netboot bundles) is built on: an entry enters whole,
 * and leaves whole, so a reader sees it complete or not at all.
 */
import { uniqueSuffix } from "../unique.ts";

// Taken when first needed: a no-op run needs none of it, and loading it costs 2 ms.
const fsp = () => process.getBuiltinModule("node:fs/promises");
const { join } = process.getBuiltinModule("node:path");

/**
 * Renames a finished folder to its entry; if the entry exists already (another run committed the same
 * key, so the same content), drops the folder and keeps the entry.
 */
export async function renameIntoPlace(built: string, entry: string): Promise<void> {
  try {
    await fsp().rename(built, entry);
  } catch (error) {
    if (!isTakenError(error)) throw error;
    await fsp().rm(built, { recursive: true, force: true });
  }
}

/** Whether a rename failed because its target is a folder that is already there. */
export function isTakenError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === "ENOTEMPTY" || code === "EEXIST";
}

/**
 * Takes an entry out in one rename into `tmpDir`, returning where it went so that the caller can delete
 * it or put it back (`renameIntoPlace`); undefined when there was no such entry.
 */
export async function evictEntry(entry: string, tmpDir: string, key: string): Promise<string | undefined> {
  await fsp().mkdir(tmpDir, { recursive: true });
  const trash = join(tmpDir, `evicted.${key}.${uniqueSuffix()}`);
  try {
    await fsp().rename(entry, trash);
    return trash;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}
