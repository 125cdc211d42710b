/**
 * Derives deb-src entries from the machine's existing apt sources, so that the Debian provider can use
 * the mirrors the host already trusts. deb822 files (`*.sources`): `Types: deb` becomes
 * `Types: deb deb-src`. One-line files (`sources.list`, `*.list`): each `deb …` line gets a matching
 * `deb-src …` line. Idempotent; comments, disabled entries and other files are left alone.
 */
import { uniqueSuffix } from "../unique.ts";

const { chmod, readdir, readFile, rename, rm, stat, writeFile } =
  process.getBuiltinModule("node:fs/promises");
const { join } = process.getBuiltinModule("node:path");

export interface EnableDebSrcResult {
  /** Files changed, with how many entries each gained. */
  changed: { file: string; added: number }[];
  /** True when some entry already had deb-src (before or after this call). */
  enabled: boolean;
}

/** `aptDir` is the folder holding `sources.list` and `sources.list.d/` (default /etc/apt). */
export async function enableDebSrc(aptDir = "/etc/apt"): Promise<EnableDebSrcResult> {
  const files = await aptSourceFiles(aptDir);
  const changed: EnableDebSrcResult["changed"] = [];
  let enabled = false;
  for (const file of files) {
    const text = await readFile(file, "utf8");
    const edit = file.endsWith(".sources") ? addDebSrcDeb822(text) : addDebSrcOneLine(text);
    if (edit.added > 0) {
      await replaceFile(file, edit.text);
      changed.push({ file, added: edit.added });
    }
    if (edit.added > 0 || edit.hadDebSrc) enabled = true;
  }
  return { changed, enabled };
}

/** Whether any enabled entry of the host's apt sources already has deb-src. */
export async function hasDebSrc(aptDir = "/etc/apt"): Promise<boolean> {
  for (const file of await aptSourceFiles(aptDir)) {
    const text = await readFile(file, "utf8");
    const edit = file.endsWith(".sources") ? addDebSrcDeb822(text) : addDebSrcOneLine(text);
    if (edit.hadDebSrc) return true;
  }
  return false;
}

async function aptSourceFiles(aptDir: string): Promise<string[]> {
  const files: string[] = [];
  const list = join(aptDir, "sources.list");
  if (await isFile(list)) files.push(list);
  const partsDir = join(aptDir, "sources.list.d");
  const parts = await readdir(partsDir).catch(() => [] as string[]);
  for (const name of parts.sort()) {
    // apt reads only these two extensions; `foo.list.disabled` and backups stay untouched.
    if (!/^[A-Za-z0-9_.-]+\.(list|sources)$/.test(name)) continue;
    if (await isFile(join(partsDir, name))) files.push(join(partsDir, name));
  }
  return files;
}

export interface DebSrcEdit {
  text: string;
  added: number;
  hadDebSrc: boolean;
}

export function addDebSrcDeb822(text: string): DebSrcEdit {
  const lines = text.split("\n");
  let added = 0;
  let hadDebSrc = false;
  // Stanzas are separated by blank lines; comment lines belong to no field.
  let start = 0;
  while (start < lines.length) {
    let end = start;
    while (end < lines.length && (lines[end] as string).trim() !== "") end++;
    const fieldLines = lines.slice(start, end);
    const typesIndex = fieldLines.findIndex((line) => /^Types:/i.test(line));
    const disabled = fieldLines.some((line) => /^Enabled:\s*no\s*$/i.test(line));
    if (typesIndex >= 0 && !disabled) {
      const line = fieldLines[typesIndex] as string;
      const types = line
        .replace(/^Types:/i, "")
        .trim()
        .split(/\s+/);
      if (types.includes("deb-src")) hadDebSrc = true;
      else if (types.includes("deb")) {
        lines[start + typesIndex] = `${line.replace(/\s+$/, "")} deb-src`;
        added++;
      }
    }
    start = end + 1;
  }
  return { text: lines.join("\n"), added, hadDebSrc };
}

const ONE_LINE = /^(deb|deb-src)(\s+.*)$/;

export function addDebSrcOneLine(text: string): DebSrcEdit {
  const lines = text.split("\n");
  const sources = new Set<string>();
  for (const line of lines) {
    const match = ONE_LINE.exec(line.trim());
    if (match?.[1] === "deb-src") sources.add(normalize(match[2] as string));
  }
  const hadDebSrc = sources.size > 0;
  const output: string[] = [];
  let added = 0;
  for (const line of lines) {
    output.push(line);
    const match = ONE_LINE.exec(line.trim());
    if (match?.[1] !== "deb") continue;
    const rest = normalize(match[2] as string);
    if (sources.has(rest)) continue;
    sources.add(rest);
    output.push(`deb-src ${rest}`);
    added++;
  }
  return { text: output.join("\n"), added, hadDebSrc };
}

function normalize(rest: string): string {
  return rest.replace(/#.*$/, "").trim().replace(/\s+/g, " ");
}

async function replaceFile(file: string, text: string): Promise<void> {
  const info = await stat(file);
  const staged = `${file}.${uniqueSuffix()}.tmp`;
  try {
    await writeFile(staged, text);
    await chmod(staged, info.mode & 0o7777);
    await rename(staged, file);
  } finally {
    await rm(staged, { force: true });
  }
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then(
    (info) => info.isFile(),
    () => false,
  );
}
