/** File names Node cannot give back: it reads bytes that are not UTF-8 as U+FFFD, and by that name a file is nowhere. */
const { lstatSync, readdirSync } = process.getBuiltinModule("node:fs");
const { basename, dirname, resolve } = process.getBuiltinModule("node:path");

/**
 * The first folder or file on the way to `path` whose name on disk is not UTF-8 (as Node shows it), or
 * undefined: a path that exists, or is missing for another reason (a real U+FFFD typed in a name that
 * is not there) has none. Asked only once a path was not found.
 */
export function nonUtf8Part(path: string): string | undefined {
  const parts: string[] = [];
  for (let current = resolve(path); dirname(current) !== current; current = dirname(current))
    parts.unshift(current);
  for (const part of parts) {
    if (exists(part)) continue;
    const name = basename(part);
    if (!name.includes("\uFFFD")) return undefined;
    let raw: Buffer[];
    try {
      raw = readdirSync(dirname(part), { encoding: "buffer" });
    } catch {
      return undefined;
    }
    const asUtf8 = Buffer.from(name);
    return raw.some((bytes) => bytes.toString() === name && !bytes.equals(asUtf8)) ? part : undefined;
  }
  return undefined;
}

function exists(path: string): boolean {
  try {
    return lstatSync(path, { throwIfNoEntry: false }) !== undefined;
  } catch {
    return false;
  }
}
