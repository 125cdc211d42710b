/**
 * One of the store's own JSON files: what it holds, or undefined when it is missing or not JSON. The store
 * can be damaged or edited by hand, so its shape is the caller's to check, never to assume.
 */
const { readFile } = process.getBuiltinModule("node:fs/promises");

export async function readJsonFile(path: string): Promise<unknown> {
  const text = await readFile(path, "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** An object (not null, not an array), whose fields can then be checked one by one. */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
