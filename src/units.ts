/**
 * Durations and sizes as people write and read them ("30m", "1h30m", "64M", "3.6 MiB"), lines of a
 * program's output made fit to show them, and words of a command to copy, quoted as a shell reads them.
 */

/**
 * Milliseconds on a monotonic clock, for measuring durations. Not performance.now(): the first use of
 * the `performance` global loads perf_hooks, about 2 ms of every start-up.
 */
export function monotonicMs(): number {
  return process.uptime() * 1000;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses "90s", "30m", "1h30m", "500ms", or a bare number of seconds. Returns undefined when the text
 * is not a duration, so the caller can report it with its own location.
 */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) && value > 0 ? value * 1000 : undefined;
  const text = value.trim();
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(text)) return undefined;
  let total = 0;
  for (const [, amount, , unit] of text.matchAll(/(\d+(\.\d+)?)(ms|s|m|h)/g)) {
    total += Number(amount) * (UNIT_MS[unit as string] as number);
  }
  return total > 0 ? total : undefined;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)}s`;
  const minutes = Math.floor(seconds / 60);
  const rest = Math.round(seconds - minutes * 60);
  if (minutes < 60) return `${minutes}m${String(rest).padStart(2, "0")}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, "0")}m`;
}

const SIZE_UNITS: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** Parses "64M", "1G", "512k" or a number of bytes. */
export function parseSize(value: string | number): number | undefined {
  if (typeof value === "number") return Number.isInteger(value) && value > 0 ? value : undefined;
  const match = /^(\d+)([kmg]?)(i?b)?$/i.exec(value.trim());
  if (!match) return undefined;
  const bytes = Number(match[1]) * (SIZE_UNITS[(match[2] ?? "").toLowerCase()] as number);
  return bytes > 0 ? bytes : undefined;
}

/** Binary units, one decimal below 10: "512 B", "3.6 MiB", "1.2 GiB". */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

const LONGEST_SHOWN_LINE = 400;

/**
 * A line of a build's or a machine's output as a terminal or a report may show it: what is left after
 * its carriage returns (a progress counter's last state), without its colour and other escape
 * sequences, any other control character (which would drive the reader's terminal) as "\ufffd", and at
 * most 400 characters.
 */
export function printableLine(line: string): string {
  let text = line.endsWith("\r") ? line.slice(0, -1) : line;
  text = text.slice(text.lastIndexOf("\r") + 1);
  if (text.includes("\x1b") || text.includes("\x9b"))
    text = process.getBuiltinModule("node:util").stripVTControlCharacters(text);
  if (text.length > LONGEST_SHOWN_LINE) text = `${text.slice(0, LONGEST_SHOWN_LINE)}…`;
  let shown = "";
  let from = 0;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if ((code < 0x20 && code !== 0x09) || (code >= 0x7f && code <= 0x9f)) {
      shown += `${text.slice(from, index)}\ufffd`;
      from = index + 1;
    }
  }
  return from === 0 ? text : shown + text.slice(from);
}

/** A word as a POSIX shell (a script rootstock writes for /bin/sh) reads it back: quoted only when it needs to be. */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}

/**
 * A word of a command a person copies (hints, reports): as shellWord, but one with control characters
 * (a line break, an escape) is written as $'…' (bash, zsh, POSIX 2024), where they show as \n or \x1b
 * on one line and paste back as themselves. Never for a script /bin/sh runs: dash has no $'…'.
 */
export function typedWord(word: string): string {
  if (!/\p{Cc}/u.test(word)) return shellWord(word);
  const escaped = [...word].map((char) => {
    if (char === "\\" || char === "'") return `\\${char}`;
    if (char === "\n") return "\\n";
    if (char === "\t") return "\\t";
    if (!/\p{Cc}/u.test(char)) return char;
    // A C1 character as its UTF-8 bytes: bash reads \u escapes only in a UTF-8 locale, \x ones in any.
    return [...Buffer.from(char)].map((byte) => `\\x${byte.toString(16).padStart(2, "0")}`).join("");
  });
  return `$'${escaped.join("")}'`;
}

/**
 * Text from a plan or the file system as a terminal shows it: a control character other than a line
 * break (an escape sequence in a name, a C1 CSI) as \uXXXX, never acted on by the terminal.
 */
export function visibleText(text: string): string {
  return text.replace(
    /[^\P{Cc}\n]/gu,
    (char) => `\\u${(char.codePointAt(0) ?? 0).toString(16).padStart(4, "0")}`,
  );
}

/** A name inside a sentence: as it is, unless it holds a control character (a line break), then as typed. */
export function inlineName(name: string): string {
  return /\p{Cc}/u.test(name) ? typedWord(name) : name;
}

/** A path given as an argument of a command a person copies: one that begins with "-" would be an option. */
export function pathWord(path: string): string {
  return typedWord(path.startsWith("-") ? `./${path}` : path);
}

/** The folder this process runs in; undefined once it was removed (a path given in full needs none). */
export function currentFolderIfAny(): string | undefined {
  try {
    return process.cwd();
  } catch {
    return undefined;
  }
}
