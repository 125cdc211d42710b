/**
 * The Range header of a request (RFC 9110 §14), for one representation of `size` bytes. One range is
 * served as 206; a range that starts past the end is 416; anything else — other units, bad syntax, or
 * several ranges (which would need multipart/byteranges) — is ignored, which the RFC allows: the whole
 * representation is sent with 200.
 */
export type RangeAnswer =
  | { kind: "full" }
  | { kind: "partial"; start: number; end: number }
  | { kind: "unsatisfiable" }
  | { kind: "ignored"; reason: string };

/** Longest header value considered; a longer one is ignored rather than parsed. */
const MAX_HEADER = 200;

export function answerRange(header: string | undefined, size: number): RangeAnswer {
  if (header === undefined) return { kind: "full" };
  if (header.length > MAX_HEADER) return { kind: "ignored", reason: "too long" };
  const match = /^bytes=(.*)$/i.exec(header.trim());
  if (!match) return { kind: "ignored", reason: "not a bytes range" };
  const specs = (match[1] as string).split(",");
  if (specs.length > 1) return { kind: "ignored", reason: "several ranges" };
  const spec = (specs[0] as string).trim();
  const parts = /^(\d*)-(\d*)$/.exec(spec);
  if (!parts || (parts[1] === "" && parts[2] === "")) return { kind: "ignored", reason: "bad syntax" };
  const first = parts[1] === "" ? undefined : toInteger(parts[1] as string);
  const last = parts[2] === "" ? undefined : toInteger(parts[2] as string);
  if (first === undefined) {
    // A suffix: the last N bytes.
    const length = last as number;
    if (length === 0 || size === 0) return { kind: "unsatisfiable" };
    return { kind: "partial", start: Math.max(0, size - length), end: size - 1 };
  }
  if (last !== undefined && last < first) return { kind: "ignored", reason: "last byte before first" };
  if (first >= size) return { kind: "unsatisfiable" };
  return { kind: "partial", start: first, end: Math.min(last ?? size - 1, size - 1) };
}

/** Digits as a number; beyond 2^53 it is still larger than any file, which is all that matters here. */
function toInteger(digits: string): number {
  return Number(digits);
}
