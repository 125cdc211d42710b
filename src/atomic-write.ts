/** Writes a small file whole or not at all: a reader sees the old text or the new, never part of one. */
import { uniqueSuffix } from "./unique.ts";

const { renameSync, rmSync, writeFileSync } = process.getBuiltinModule("node:fs");

/** Synchronous: the files written this way are small, and a thread-pool trip costs more. */
export function writeFileAtomically(path: string, text: string): void {
  const staged = `${path}.${uniqueSuffix()}`;
  try {
    writeFileSync(staged, text);
    renameSync(staged, path);
  } catch (error) {
    // A full disk leaves no half-written file beside the real one.
    rmSync(staged, { force: true });
    // A write's error names no file (the file-size limit, a full disk): this one is said.
    if (error instanceof Error && (error as NodeJS.ErrnoException).path === undefined)
      Object.assign(error, { path });
    throw error;
  }
}
