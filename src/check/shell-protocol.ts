/**
 * How a command travels over a plain serial shell and comes back intact. The command goes base64
 * encoded in a here-document, so quotes, `$`, backslashes and bytes of any kind reach the shell as
 * written and no line is longer than a tty allows. It runs in a subshell with no input (so it cannot
 * eat what is typed next); its output and exit status come back base64 encoded between markers that
 * carry an id. The markers are printed from two halves, so an echo of the command never matches them.
 * Pure: the Machine writes the script and feeds console lines to a ReplyReader.
 */
import { RootstockError } from "../errors.ts";

const BEGIN = "RS-begin:";
const END = "RS-end:";
const STATUS = "RS-status:";
const READY = "RS-ready:";
const BASE64_LINE = /^[A-Za-z0-9+/=]+$/;
/** busybox and coreutils base64 both wrap at 76 columns. */
const BASE64_WIDTH = 76;
/** Kernel messages printed while a command runs (with printk timestamps). */
const KERNEL_LINE = /^\s*\[\s*\d+\.\d+\]/;

export interface ShellReply {
  status: number;
  output: Buffer;
}

/** The text to type for `command`: a function definition line, then a here-document. */
export function commandScript(command: string, id: string): string {
  const encoded = Buffer.from(command, "utf8").toString("base64");
  const lines: string[] = [];
  for (let at = 0; at < encoded.length; at += BASE64_WIDTH) lines.push(encoded.slice(at, at + BASE64_WIDTH));
  return [
    `__rs() { __rs_c=$(base64 -d); printf '%s%s\\n' '${BEGIN}' '${id}'; { (eval "$__rs_c") </dev/null 2>&1; printf '\\n%s%s %s\\n' '${STATUS}' '${id}' "$?"; } | base64; printf '%s%s\\n' '${END}' '${id}'; }`,
    `__rs <<'__RS_${id}__'`,
    ...lines,
    `__RS_${id}__`,
    "",
  ].join("\n");
}

/**
 * Run once per boot before the first command: only emergency kernel messages on the console (a panic
 * still shows), so that nothing interleaves with replies. Echo stays on: with `stty -echo`, busybox's
 * shell reads with plain fgets, and a signal (an orphaned background job exiting, when the shell is
 * PID 1) makes it read end-of-file and exit, which panics the kernel. The echo is harmless: markers
 * never appear in it, and replies are read between them.
 */
export function setupScript(id: string, options: { quietKernel: boolean }): string {
  const quiet = options.quietKernel ? " dmesg -n 1 2>/dev/null;" : "";
  return `${quiet} printf '%s%s\\n' '${READY}' '${id}'\n`;
}

export function isReadyLine(line: string, id: string): boolean {
  return line.endsWith(`${READY}${id}`);
}

/** Reads one reply from console lines, fed in order. */
export class ReplyReader {
  readonly #id: string;
  #state: "before" | "body" | "done" = "before";
  readonly #body: string[] = [];
  readonly #noise: string[] = [];

  constructor(id: string) {
    this.#id = id;
  }

  /** Returns the reply once its end marker has been read. */
  feed(line: string): ShellReply | undefined {
    if (this.#state === "done") return undefined;
    if (this.#state === "before") {
      // The prompt may precede the marker on the same line.
      if (line.endsWith(`${BEGIN}${this.#id}`)) this.#state = "body";
      return undefined;
    }
    if (line.endsWith(`${END}${this.#id}`)) {
      this.#state = "done";
      return this.#decode();
    }
    if (BASE64_LINE.test(line)) this.#body.push(line);
    else this.#noise.push(line);
    return undefined;
  }

  #decode(): ShellReply {
    const garbled = (why: string) =>
      new RootstockError("ERR_CHECK_GARBLED_REPLY", `the reply to a command came back garbled: ${why}`, {
        hint:
          this.#noise.length > 0
            ? `other output was mixed into it: ${JSON.stringify(this.#noise.slice(0, 3))}`
            : "the serial line lost characters; run the command again",
      });
    const unexpected = this.#noise.filter((line) => !KERNEL_LINE.test(line) && line.trim() !== "");
    const short = this.#body.slice(0, -1).findIndex((line) => line.length !== BASE64_WIDTH);
    if (short >= 0)
      throw garbled(
        `line ${short + 1} of the encoded output is ${this.#body[short]?.length} characters, not ${BASE64_WIDTH}`,
      );
    if (unexpected.length > 0) throw garbled(`unexpected text among the encoded output`);
    const decoded = Buffer.from(this.#body.join(""), "base64");
    const marker = Buffer.from(`\n${STATUS}${this.#id} `);
    const at = decoded.lastIndexOf(marker);
    if (at < 0) {
      throw new RootstockError(
        "ERR_CHECK_SHELL_PROTOCOL",
        "the guest's shell printed no exit status for the command",
        {
          hint: "the guest needs a POSIX shell with printf and base64 (busybox has both) on its console",
        },
      );
    }
    const statusText = decoded.toString("utf8", at + marker.length).trim();
    const status = Number.parseInt(statusText, 10);
    if (!Number.isInteger(status)) throw garbled(`the exit status reads ${JSON.stringify(statusText)}`);
    return { status, output: decoded.subarray(0, at) };
  }
}
