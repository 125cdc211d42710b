/** sha256 digests of files, trees and values: the identity of everything rootstock caches. */
import type { Hash } from "node:crypto";

const { closeSync, createReadStream, fstatSync, openSync, readSync } = process.getBuiltinModule("node:fs");
// Taken when first needed: a no-op run needs none of it, and loading it costs 2 ms.
const fsp = () => process.getBuiltinModule("node:fs/promises");

export interface Digest {
  sha256: string;
  size: number;
}

/**
 * A new sha256. node:crypto loads on the first hash, not with this module: loading it is a tenth of a
 * no-op run, which hashes nothing.
 */
export function createSha256(): Hash {
  return process.getBuiltinModule("node:crypto").createHash("sha256");
}

export function sha256Text(text: string | Uint8Array): string {
  return createSha256().update(text).digest("hex");
}

/** Files up to this size are read whole: a stream (and its 1 MiB buffer) per small file costs more. */
const WHOLE_FILE = 1 << 20;

export async function digestFile(path: string, signal?: AbortSignal): Promise<Digest> {
  const hash = createSha256();
  const info = await fsp().stat(path);
  if (info.size <= WHOLE_FILE) {
    const content = await fsp().readFile(path, signal ? { signal } : {});
    return { sha256: hash.update(content).digest("hex"), size: content.length };
  }
  let size = 0;
  for await (const chunk of createReadStream(path, { signal, highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest("hex"), size };
}

/**
 * The same, for callers that read many small files while nothing else runs (a plan's files): no
 * thread-pool round trip per file. Large files are read in chunks, never whole.
 */
export function digestFileSync(path: string): Digest {
  const hash = createSha256();
  const fd = openSync(path, "r");
  try {
    const buffer = Buffer.allocUnsafe(Math.min(fstatSync(fd).size, WHOLE_FILE) || 1);
    let size = 0;
    for (;;) {
      const read = readSync(fd, buffer, 0, buffer.length, null);
      if (read === 0) break;
      hash.update(buffer.subarray(0, read));
      size += read;
    }
    return { sha256: hash.digest("hex"), size };
  } finally {
    closeSync(fd);
  }
}

/** JSON with sorted object keys, so that equal values always hash alike. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  // Loops rather than entries/filter/map: keys are computed for every step of every run.
  if (Array.isArray(value)) {
    let out = "[";
    for (let index = 0; index < value.length; index++) {
      if (index > 0) out += ",";
      out += canonicalJson(value[index]);
    }
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  let out = "{";
  let first = true;
  // The default sort orders strings by UTF-16 code units, as `<` does.
  for (const key of Object.keys(record).sort()) {
    const item = record[key];
    if (item === undefined) continue;
    if (!first) out += ",";
    first = false;
    out += `${JSON.stringify(key)}:${canonicalJson(item)}`;
  }
  return `${out}}`;
}

export function sha256Json(value: unknown): string {
  return sha256Text(canonicalJson(value));
}
