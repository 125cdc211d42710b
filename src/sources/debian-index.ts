/**
 * Reading apt's source index (`apt-cache showsrc` output) and choosing which version of a source
 * package to download. The file and its pinned sha256 are what matter: when a Debian revision bump
 * removed the pinned version, another version carrying a file with the same hash serves as well.
 */
import type { DebianProvider } from "../plan/types.ts";

export interface SourceRecordFile {
  name: string;
  sha256: string;
  size: number;
}

export interface SourceRecord {
  package: string;
  version: string;
  files: SourceRecordFile[];
}

/** Parses deb822 stanzas as `apt-cache showsrc` prints them. */
export function parseSourceRecords(text: string): SourceRecord[] {
  const records: SourceRecord[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let last: string | undefined;
    for (const line of stanza.split("\n")) {
      if (/^\s/.test(line) && last !== undefined) {
        fields.set(last, `${fields.get(last)}\n${line.trim()}`);
        continue;
      }
      const match = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
      if (!match) continue;
      last = (match[1] as string).toLowerCase();
      fields.set(last, (match[2] as string).trim());
    }
    const name = fields.get("package");
    const version = fields.get("version");
    if (!name || !version) continue;
    const files: SourceRecordFile[] = [];
    for (const line of (fields.get("checksums-sha256") ?? "").split("\n")) {
      const parts = line.trim().split(/\s+/);
      if (parts.length === 3 && /^[0-9a-f]{64}$/.test(parts[0] as string)) {
        files.push({ sha256: parts[0] as string, size: Number(parts[1]), name: parts[2] as string });
      }
    }
    records.push({ package: name, version, files });
  }
  return records;
}

export type DebianChoice =
  | {
      found: true;
      version: string;
      file: SourceRecordFile;
      exact: boolean;
      /** Other versions that carry the file, best first: tried when the first cannot be downloaded. */
      others: { version: string; file: SourceRecordFile }[];
    }
  | { found: false; newest?: { version: string; file?: SourceRecordFile } };

/**
 * The pinned version when it carries the pinned hash; otherwise the newest version that does; otherwise
 * nothing, with the newest version and its file of the same kind, so that the pin can be updated.
 */
export function chooseDebianVersion(
  records: readonly SourceRecord[],
  provider: DebianProvider,
  sha256: string,
): DebianChoice {
  const ofPackage = records
    .filter((record) => record.package === provider.package)
    .sort((a, b) => compareDebianVersions(b.version, a.version));
  const carrying = (record: SourceRecord) => record.files.find((file) => file.sha256 === sha256);
  const pinned = ofPackage.find((record) => record.version === provider.version);
  const pinnedFile = pinned && carrying(pinned);
  // A mirror may lack a version its index lists (a security pool it does not serve): every version that
  // carries the file is a candidate, the pinned one first, then newest first.
  const others = ofPackage.flatMap((record) => {
    const file = record === pinned ? undefined : carrying(record);
    return file ? [{ version: record.version, file }] : [];
  });
  if (pinned && pinnedFile)
    // Not exact when the pin names the file otherwise: the hash found it, the name is the pin's mistake.
    return {
      found: true,
      version: pinned.version,
      file: pinnedFile,
      exact: pinnedFile.name === provider.file,
      others,
    };
  const [best, ...rest] = others;
  if (best) return { found: true, version: best.version, file: best.file, exact: false, others: rest };
  const newest = ofPackage[0];
  if (!newest) return { found: false };
  const file = sameKind(newest, provider);
  return { found: false, newest: { version: newest.version, ...(file === undefined ? {} : { file }) } };
}

/** The file of `record` that plays the pinned file's part (`.orig.tar.gz`, `.debian.tar.xz`, …). */
function sameKind(record: SourceRecord, provider: DebianProvider): SourceRecordFile | undefined {
  const exact = record.files.find((file) => file.name === provider.file);
  if (exact) return exact;
  const kind = /\.(orig(-[A-Za-z0-9-]+)?\.tar|debian\.tar|tar|dsc|diff)(\.[a-z0-9]+)?$/.exec(provider.file);
  const role = kind?.[1];
  if (role) {
    const found = record.files.find((file) =>
      new RegExp(`\\.${role.replace(/[.-]/g, "\\$&")}(\\.|$)`).test(file.name),
    );
    if (found) return found;
  }
  return record.files.find((file) => !file.name.endsWith(".dsc") && !file.name.endsWith(".asc"));
}

/** dpkg's version order: epoch, then upstream version, then revision; `~` sorts before everything. */
export function compareDebianVersions(a: string, b: string): number {
  const split = (version: string) => {
    const colon = version.indexOf(":");
    const epoch = colon > 0 ? Number(version.slice(0, colon)) : 0;
    const rest = colon > 0 ? version.slice(colon + 1) : version;
    const dash = rest.lastIndexOf("-");
    return dash > 0
      ? { epoch, upstream: rest.slice(0, dash), revision: rest.slice(dash + 1) }
      : { epoch, upstream: rest, revision: "" };
  };
  const left = split(a);
  const right = split(b);
  if (left.epoch !== right.epoch) return left.epoch - right.epoch;
  return comparePart(left.upstream, right.upstream) || comparePart(left.revision, right.revision);
}

function order(char: string | undefined): number {
  if (char === undefined) return 0;
  if (char === "~") return -1;
  if (/[A-Za-z]/.test(char)) return char.charCodeAt(0);
  return char.charCodeAt(0) + 256;
}

function comparePart(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    // A run of non-digits, compared character by character.
    while ((i < a.length && !/\d/.test(a[i] as string)) || (j < b.length && !/\d/.test(b[j] as string))) {
      const left = i < a.length && !/\d/.test(a[i] as string) ? order(a[i]) : 0;
      const right = j < b.length && !/\d/.test(b[j] as string) ? order(b[j]) : 0;
      if (left !== right) return left - right;
      i++;
      j++;
    }
    // A run of digits, compared as numbers.
    let left = "";
    let right = "";
    while (i < a.length && /\d/.test(a[i] as string)) left += a[i++];
    while (j < b.length && /\d/.test(b[j] as string)) right += b[j++];
    const difference = Number(left || "0") - Number(right || "0");
    if (difference !== 0) return difference;
  }
  return 0;
}
