/**
 * The guest's serial console as lines. Bytes arrive from QEMU's console socket; they are decoded,
 * split into lines, and cleaned of carriage returns and terminal escape sequences (a shell's prompt
 * asks for the cursor position, for example), so that patterns match what a person reads.
 */
import type { Emit } from "../events.ts";

export type ConsoleListener = (update: { lines: string[]; partial: string }) => void;
export type DataListener = (chunk: Buffer) => void;

// CSI sequences (ESC [ … final byte), OSC sequences (ESC ] … BEL or ESC \), and two-byte escapes.
// biome-ignore lint/suspicious/noControlCharactersInRegex: terminal escapes are control characters
const ESCAPES = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]|\x1bc/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: the other control characters a console shows
const CONTROLS = /[\x00-\x08\x0b-\x1f\x7f]/g;

export function cleanConsoleText(text: string): string {
  return text.replace(ESCAPES, "").replace(CONTROLS, "");
}

export interface SerialConsoleOptions {
  machine: string;
  emit?: Emit;
  /** Keep at most this many lines in memory (default 200 000); the log file keeps all. */
  maxLines?: number;
}

export class SerialConsole {
  readonly machine: string;
  readonly #emit: Emit | undefined;
  readonly #maxLines: number;
  readonly #decoder = new TextDecoder("utf-8");
  readonly #listeners = new Set<ConsoleListener>();
  readonly #dataListeners = new Set<DataListener>();
  #writer: ((data: string | Buffer) => void) | undefined;
  /** Complete lines, cleaned; `#dropped` lines were let go from the front. */
  readonly #lines: string[] = [];
  #dropped = 0;
  #raw = "";

  constructor(options: SerialConsoleOptions) {
    this.machine = options.machine;
    this.#emit = options.emit;
    this.#maxLines = options.maxLines ?? 200_000;
  }

  /** Sends the guest's input somewhere (QEMU's socket). */
  connect(writer: (data: string | Buffer) => void): void {
    this.#writer = writer;
  }

  write(data: string | Buffer): void {
    this.#writer?.(data);
  }

  /** Bytes from the guest. */
  feed(chunk: Buffer): void {
    for (const listener of this.#dataListeners) listener(chunk);
    this.#raw += this.#decoder.decode(chunk, { stream: true });
    const completed: string[] = [];
    let newline = this.#raw.indexOf("\n");
    while (newline >= 0) {
      completed.push(cleanConsoleText(this.#raw.slice(0, newline)));
      this.#raw = this.#raw.slice(newline + 1);
      newline = this.#raw.indexOf("\n");
    }
    this.#push(completed);
  }

  /** Ends the current partial line, so that what comes next starts afresh (after a reset, say). */
  breakLine(): void {
    if (this.#raw === "") return;
    const line = cleanConsoleText(this.#raw);
    this.#raw = "";
    this.#push([line]);
  }

  #push(completed: string[]): void {
    for (const line of completed) {
      this.#lines.push(line);
      this.#emit?.({ type: "vm:console", machine: this.machine, line });
    }
    if (this.#lines.length > this.#maxLines) {
      const drop = this.#lines.length - this.#maxLines;
      this.#lines.splice(0, drop);
      this.#dropped += drop;
    }
    const update = { lines: completed, partial: this.partial };
    for (const listener of this.#listeners) listener(update);
  }

  /** The line being written, not yet ended by a newline (a prompt, typically). */
  get partial(): string {
    return cleanConsoleText(this.#raw);
  }

  /** How many complete lines there have been; a position to read from later. */
  get lineCount(): number {
    return this.#dropped + this.#lines.length;
  }

  /** Complete lines from position `from` on (positions count from the first line ever). */
  linesSince(from: number): string[] {
    return this.#lines.slice(Math.max(0, from - this.#dropped));
  }

  /** The last `count` lines, the partial one included when there is one. */
  tail(count = 30): string[] {
    const lines = this.partial === "" ? this.#lines : [...this.#lines, this.partial];
    return lines.slice(-count);
  }

  text(): string {
    const body = this.#lines.join("\n");
    return this.partial === "" ? `${body}\n` : `${body}\n${this.partial}`;
  }

  onUpdate(listener: ConsoleListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  onData(listener: DataListener): () => void {
    this.#dataListeners.add(listener);
    return () => this.#dataListeners.delete(listener);
  }
}
