/** What every command gets: where to write, how to style, and the global options. */
import type { Writable } from "node:stream";
import type { styleText } from "node:util";
import { RootstockError } from "../errors.ts";
import { storeLocation } from "../store/location.ts";
import { userName } from "../store/owner.ts";
import { pathWord, typedWord } from "../units.ts";
import { checkFolderArgument } from "./options.ts";

export interface GlobalOptions {
  store?: string;
  color?: boolean;
}

const INTERRUPT_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

export class CliContext {
  readonly stdout: Writable;
  readonly stderr: Writable;
  #globals: GlobalOptions = {};
  #storeDir: string | undefined;
  #aborts = new Set<() => void>();
  /** The signal that interrupted the command, if one did: its exit status then says so (128 + its number). */
  interruptedBy: NodeJS.Signals | undefined;

  constructor(stdout: Writable = process.stdout, stderr: Writable = process.stderr) {
    this.stdout = stdout;
    this.stderr = stderr;
  }

  /**
   * Calls `abort` on Ctrl-C, SIGTERM or a closed terminal (SIGHUP), or when the reader of the output goes
   * away (`rootstock run P | head`), noting why; returns what stops listening. A long operation so ends as
   * the person meant it to: its run recorded, its report written.
   */
  whenInterrupted(abort: () => void): () => void {
    // Listening on (not once): a second Ctrl-C a moment later must not kill rootstock with Node's default
    // while it records the run it is ending.
    const interrupt = (signal: NodeJS.Signals) => this.interrupt(signal);
    this.#aborts.add(abort);
    for (const signal of INTERRUPT_SIGNALS) process.on(signal, interrupt);
    return () => {
      this.#aborts.delete(abort);
      for (const signal of INTERRUPT_SIGNALS) process.off(signal, interrupt);
    };
  }

  /** Interrupts what is listening, as `signal` would; false when nothing is. */
  interrupt(signal: NodeJS.Signals): boolean {
    if (this.#aborts.size === 0) return false;
    if (this.interruptedBy !== undefined) return true;
    this.interruptedBy = signal;
    for (const abort of [...this.#aborts]) abort();
    return true;
  }

  /** The options the command being run was given (see main.ts), for the report's command line. */
  givenOptions: string[] = [];

  setGlobals(globals: GlobalOptions): void {
    this.#globals = globals;
    this.#storeDir = undefined;
  }

  /** The same context writing everything to standard error (`boot`, whose output is the guest's). */
  toStderr(): CliContext {
    const context = new CliContext(this.stderr, this.stderr);
    context.setGlobals(this.#globals);
    return context;
  }

  get storeDir(): string {
    if (this.#storeDir === undefined) {
      const dir = checkFolderArgument(
        this.#globals.store !== undefined
          ? "--store"
          : process.env.ROOTSTOCK_STORE
            ? "$ROOTSTOCK_STORE"
            : "the store",
        storeLocation(this.#globals.store),
      );
      this.#checkStore(dir);
      this.#storeDir = dir;
    }
    return this.#storeDir;
  }

  /**
   * A store that cannot be read would look empty (no runs, no sources, nothing for gc to keep): refused.
   * Root working in another user's store is refused.
   */
  #checkStore(dir: string): void {
    const { accessSync, constants, lstatSync, statSync } = process.getBuiltinModule("node:fs");
    try {
      accessSync(dir, constants.R_OK | constants.X_OK);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return;
      throw new RootstockError(
        "ERR_STORE_UNREADABLE",
        `cannot read the store ${dir}: ${code === "EACCES" ? "permission denied" : code === "ENAMETOOLONG" ? "a name in its path is longer than 255 bytes, or the whole longer than 4096" : (error as Error).message}`,
        {
          hint:
            code === "ENAMETOOLONG"
              ? "give a shorter path: each name in it at most 255 bytes (--store DIR or $ROOTSTOCK_STORE)"
              : "the store must be a folder you can read and write, and its parent folders searchable; choose another with --store DIR or $ROOTSTOCK_STORE",
        },
      );
    }
    // Root's sandboxes cannot enter that user's closed folders (work/ is 0700), and what root wrote
    // there that user could not change: refused, not half done.
    const uid = process.getuid?.();
    const owner = uid === 0 ? statSync(dir).uid : 0;
    if (owner !== 0) {
      const name = userName(owner);
      throw new RootstockError(
        "ERR_STORE_OTHER_OWNER",
        `the store ${dir} belongs to ${name}, and rootstock runs as root`,
        {
          hint: `run it as ${name} (\`runuser -u ${name} -- rootstock …\`), or give root a store of its own (--store DIR)`,
        },
      );
    }
    // A folder of it another user made (in a store folder others may write) is theirs to change: an
    // entry swapped there goes into this user's images. One owner per store.
    for (const name of ["", "outputs", "images", "sources", "netboot"]) {
      const path = name === "" ? dir : `${dir}/${name}`;
      const found = lstatSync(path, { throwIfNoEntry: false })?.uid;
      // Root's (an admin's shared space, `root:team 2775`) is trusted, as root can change anything.
      if (found === undefined || found === uid || found === 0) continue;
      const who = userName(found);
      throw new RootstockError(
        "ERR_STORE_OTHER_OWNER",
        `the store's folder ${path} belongs to ${who}, not to this user`,
        {
          hint: `another user could change what is built there: use a store of your own (--store DIR), or have ${who} give that folder to you (chown)`,
        },
      );
    }
  }

  /**
   * A plan argument as hints spell it in a command to copy: with the --store it was given, or the
   * copied command would look in the default store, and the --set values, or it would build, or
   * compare with, the plan with its own variables.
   */
  planWords(dir: string, set: readonly string[] = []): string {
    const store = this.#globals.store === undefined ? [] : ["--store", this.#globals.store];
    return [...[...store, ...set.flatMap((value) => ["--set", value])].map(typedWord), pathWord(dir)].join(
      " ",
    );
  }

  /** A terminal that can redraw a status line: not under CI, not TERM=dumb. */
  get isTerminal(): boolean {
    return (
      Boolean((this.stdout as NodeJS.WriteStream).isTTY) && !process.env.CI && process.env.TERM !== "dumb"
    );
  }

  get color(): boolean {
    return this.#colorFor(this.stdout);
  }

  /**
   * --no-color and NO_COLOR turn colour off; FORCE_COLOR turns it on (FORCE_COLOR=0 or false, off); else a
   * terminal that is not TERM=dumb gets it. Each stream is asked for itself: errors on a terminal are
   * coloured while the output goes to a file, and not the other way round.
   */
  #colorFor(stream: NodeJS.WritableStream): boolean {
    if (this.#globals.color === false || process.env.NO_COLOR) return false;
    const force = process.env.FORCE_COLOR;
    if (force !== undefined && force !== "") return force !== "0" && force !== "false";
    return Boolean((stream as NodeJS.WriteStream).isTTY) && process.env.TERM !== "dumb";
  }

  /**
   * node:util is taken when first needed, not imported: importing it as a module reads every lazy
   * property it has (parseArgs, diff, …), which costs a no-op run a few milliseconds.
   */
  style(format: Parameters<typeof styleText>[0], text: string): string {
    return this.color ? styled(format, text) : text;
  }

  /** As style, for text written to standard error. */
  styleErr(format: Parameters<typeof styleText>[0], text: string): string {
    return this.#colorFor(this.stderr) ? styled(format, text) : text;
  }

  out(line = ""): void {
    this.stdout.write(`${line}\n`);
  }

  err(line = ""): void {
    this.stderr.write(`${line}\n`);
  }
}

function styled(format: Parameters<typeof styleText>[0], text: string): string {
  return process.getBuiltinModule("node:util").styleText(format, text, { validateStream: false });
}
