/** Writes a small file whole or not at all: a reader sees the old text or the new, never part of one. */
import { uniqueSuffix } from "./unique.ts";

const { renameSync, writeFileSync } = process.getBuiltinModule("node:fs");

/** Synchronous: the files written this way are small, and a thread-pool trip costs more. */
export function writeFileAtomically(path: string, text: string): void {
  const staged = `${path}.${uniqueSuffix()}`;
  writeFileSync(staged, text);
  renameSync(staged, path);
}
