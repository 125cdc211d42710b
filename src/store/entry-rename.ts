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
 * An entry taken out: `path` holds it whole, or, when it had to stay where it was (`inPlace`), only the
 * file that marks it whole, so that readers take it for no entry.
 */
export interface Evicted {
  path: string;
  inPlace?: { entry: string; marker: string };
}

/**
 * Takes an entry out in one rename into `tmpDir`, returning where it went so that the caller can delete
 * it or put it back (`restoreEntry`); undefined when there was no such entry.
 *
 * overlayfs renames no folder of its lower layer (unless mounted with redirect_dir): there the entry's
 * `marker` file, which readers require, goes out instead (files it renames), and the rest is removed
 * where it is (`removeEvicted`).
 */
export async function evictEntry(
  entry: string,
  tmpDir: string,
  key: string,
  marker: string,
): Promise<Evicted | undefined> {
  await fsp().mkdir(tmpDir, { recursive: true });
  const trash = join(tmpDir, `evicted.${key}.${uniqueSuffix()}`);
  try {
    await fsp().rename(entry, trash);
    return { path: trash };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    if (code !== "EXDEV") throw error;
    const inPlace = { entry, marker: join(entry, marker) };
    try {
      await fsp().rename(inPlace.marker, trash);
    } catch (markerError) {
      // Its marker already gone (a gc stopped while removing it): it is no entry, only to be removed.
      if ((markerError as NodeJS.ErrnoException).code !== "ENOENT") throw markerError;
    }
    return { path: trash, inPlace };
  }
}

/** Deletes what `evictEntry` took out: the entry left where it was first, then its marker. */
export async function removeEvicted(evicted: Evicted): Promise<void> {
  const { removeTree } = await import("./remove-tree.ts");
  if (evicted.inPlace) await removeTree(evicted.inPlace.entry);
  await removeTree(evicted.path);
}

/** Undoes `evictEntry`, unless the key was committed again meanwhile. */
export async function restoreEntry(evicted: Evicted, entry: string): Promise<void> {
  if (!evicted.inPlace) return renameIntoPlace(evicted.path, entry);
  await fsp()
    .rename(evicted.path, evicted.inPlace.marker)
    .catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "ENOENT") throw error;
    });
}
