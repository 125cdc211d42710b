/**
 * Writes a plan's sources into a folder that serves as a mirror for an air-gapped machine, in the
 * layout fetch reads: `DIR/sha256/<sha256>` for every file, `DIR/<file>` (a hard link to it) for
 * people and plain file servers, and `DIR/SHA256SUMS` listing the named files (`sha256sum -c`).
 * Missing sources are fetched first. Every file is written beside its place and renamed into it.
 */
import { digestFile } from "../digest.ts";
import { RootstockError } from "../errors.ts";
import { otherUsersOwn } from "../store/owner.ts";
import { uniqueSuffix } from "../unique.ts";
import { type FetchOptions, type FetchResult, fetchSources, type SourceRequest } from "./fetch-sources.ts";
import { SourceStore } from "./source-store.ts";

const {
  copyFile,
  constants: fsConstants,
  link,
  mkdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} = process.getBuiltinModule("node:fs/promises");
const { join } = process.getBuiltinModule("node:path");

export type ExportOptions = FetchOptions;

export interface ExportResult {
  fetch: FetchResult;
  /** Files written by hash (new or repaired). */
  written: number;
  /** Files that were there already, with the right content. */
  kept: number;
  /** Copies (by hash, or by a name this mirror gave them) that were there damaged, and were replaced. */
  repaired: number;
  /** Names two different sources share: only the first is written by name (both are there by hash). */
  nameConflicts: { file: string; sha256: string[] }[];
  /**
   * Names the folder already gives another file (another plan's, or one put there by hand): that file
   * keeps the name and its line in SHA256SUMS; this plan's is there by hash.
   */
  nameTaken: { file: string; sha256: string; there: string }[];
  bytes: number;
}

export const SUMS_FILE = "SHA256SUMS";

export async function exportMirror(
  sources: readonly SourceRequest[],
  dir: string,
  options: ExportOptions,
): Promise<ExportResult> {
  // A sha256/ link another user made lets that user choose where this one writes (files are renamed
  // into place, so a link at a file's name is replaced, not followed).
  const linked = join(dir, "sha256");
  const other = otherUsersOwn(linked);
  if (other && other.path === linked)
    throw new RootstockError("ERR_MIRROR_NOT_OWN", `${linked} belongs to ${other.name}, not to this user`, {
      hint: "remove it, or export the mirror into a folder of your own (a sha256/ link of yours may lead to another disk)",
    });
  const fetched = await fetchSources(sources, options);
  // Optional sources that could not be had stay out of the mirror; the result says which.
  const unavailable = new Set((fetched.unavailable ?? []).flatMap((item) => item.sources));
  const exported = sources.filter((source) => !unavailable.has(source));
  const store = new SourceStore(options.storeDir);
  const result: ExportResult = {
    fetch: fetched,
    written: 0,
    kept: 0,
    repaired: 0,
    nameConflicts: [],
    nameTaken: [],
    bytes: 0,
  };
  await mkdir(join(dir, "sha256"), { recursive: true });

  const byName = new Map<string, string>();
  const unique = new Map(exported.map((source) => [source.sha256, source]));
  for (const source of exported) {
    const first = byName.get(source.file);
    if (first === undefined) byName.set(source.file, source.sha256);
    else if (first !== source.sha256) {
      const conflict = result.nameConflicts.find((item) => item.file === source.file);
      if (conflict) conflict.sha256.push(source.sha256);
      else result.nameConflicts.push({ file: source.file, sha256: [first, source.sha256] });
    }
  }

  for (const source of unique.values()) {
    options.signal?.throwIfAborted();
    const target = join(dir, "sha256", source.sha256);
    const existing = await stat(target).catch(() => undefined);
    const there = existing?.isFile() ? (await digestFile(target)).sha256 : undefined;
    if (there === source.sha256) {
      result.kept++;
    } else {
      await placeCopy(store.path(source.sha256), target);
      result.written++;
      if (there !== undefined) result.repaired++;
    }
    result.bytes += (await stat(target)).size;
  }
  // What SHA256SUMS said each name holds: a name it gave this plan's file is this plan's copy.
  const listed = await readSums(dir);
  for (const [file, sha256] of byName) {
    const target = join(dir, file);
    const [hashed, named] = await Promise.all([
      stat(join(dir, "sha256", sha256)),
      stat(target).catch(() => undefined),
    ]);
    if (named && named.ino === hashed.ino && named.dev === hashed.dev) continue;
    if (named) {
      const there = named.isFile() ? (await digestFile(target)).sha256 : "not a file";
      if (there !== sha256 && listed.get(file) === sha256) {
        // A copy this mirror made, damaged since (a stick cut short): made again.
        result.repaired++;
      } else if (there !== sha256) {
        result.nameTaken.push({ file, sha256, there });
        byName.delete(file);
        continue;
      }
    }
    await placeLink(join(dir, "sha256", sha256), target);
  }
  // A file with no name of its own here (taken, or shared by two sources) is listed by its hash path,
  // so that `sha256sum -c` checks every file this plan needs.
  const byHashOnly = [
    ...result.nameTaken.map((taken) => taken.sha256),
    ...result.nameConflicts.flatMap((conflict) => conflict.sha256.slice(1)),
  ];
  for (const sha256 of byHashOnly) byName.set(`sha256/${sha256}`, sha256);
  await writeSums(dir, byName, new Map(result.nameTaken.map((taken) => [taken.file, taken.there])));
  return result;
}

async function placeCopy(from: string, target: string): Promise<void> {
  const staged = `${target}.${uniqueSuffix()}.tmp`;
  try {
    await copyFile(from, staged, fsConstants.COPYFILE_FICLONE);
    await rename(staged, target);
  } finally {
    await rm(staged, { force: true });
  }
}

/** A hard link within the mirror (a copy where the filesystem has none). */
async function placeLink(from: string, target: string): Promise<void> {
  const staged = `${target}.${uniqueSuffix()}.tmp`;
  try {
    await link(from, staged).catch(() => copyFile(from, staged, fsConstants.COPYFILE_FICLONE));
    await rename(staged, target);
  } finally {
    await rm(staged, { force: true });
  }
}

/** SHA256SUMS as it is: each name and the sha256 it gives. */
async function readSums(dir: string): Promise<Map<string, string>> {
  const sums = new Map<string, string>();
  for (const line of (await readFile(join(dir, SUMS_FILE), "utf8").catch(() => "")).split("\n")) {
    const match = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (match) sums.set(match[2] as string, match[1] as string);
  }
  return sums;
}

/**
 * Merges this plan's names into SHA256SUMS, so one folder can mirror several plans. A name another file
 * holds keeps its line only while the line is true of that file (`taken`: what each such name holds).
 */
async function writeSums(
  dir: string,
  byName: Map<string, string>,
  taken: Map<string, string>,
): Promise<void> {
  const path = join(dir, SUMS_FILE);
  const sums = await readSums(dir);
  for (const [file, there] of taken) if (sums.get(file) !== there) sums.delete(file);
  for (const [file, sha256] of byName) sums.set(file, sha256);
  const text = [...sums]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([file, sha256]) => `${sha256}  ${file}\n`)
    .join("");
  const staged = `${path}.${uniqueSuffix()}.tmp`;
  await writeFile(staged, text);
  await rename(staged, path);
}
