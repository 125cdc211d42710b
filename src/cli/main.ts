/** The rootstock command line: thin commands over the library, errors rendered once, here. */
import { Command, CommanderError } from "commander";
import { RootstockError } from "../errors.ts";
import { ROOTSTOCK_VERSION } from "../version.ts";
import { registerCommands } from "./commands/index.ts";
import { CliContext } from "./context.ts";

type Writable = NodeJS.WritableStream;

/** What sysexits.h calls EX_IOERR. */
const EXIT_OUTPUT_LOST = 74;

export async function main(argv: readonly string[], context = new CliContext()): Promise<number> {
  // Commands set it to say how they ended (doctor, shell); one call of main must not inherit another's.
  process.exitCode = undefined;
  // Everything rootstock makes (a step's build folder and $FILES, unpacked sources, outputs, images) has
  // the same modes whoever runs it, as keys promise; and nothing in the store is writable by others.
  process.umask(0o022);
  let outputLost = false;
  /**
   * A full disk or a device error: what the command printed is lost, so it must not end as if it were
   * not. Said on standard error, once; false for a reader that went away (`| head`), no error of ours.
   */
  const lose = (stream: Writable, error: NodeJS.ErrnoException): boolean => {
    if (error.code === "EPIPE" || error.code === "ERR_STREAM_DESTROYED") return false;
    if (!outputLost && stream === context.stdout)
      context.stderr.write(
        `error: cannot write the command's output: ${error.message} [ERR_OUTPUT_UNWRITABLE]\n  hint: free space where standard output goes, or send it elsewhere\n`,
      );
    outputLost = true;
    return true;
  };
  // A write to a file fails at once, but its error event may come after the command has returned.
  const lostAtEnd = () =>
    [context.stdout, context.stderr].some((stream) => {
      const error = (stream as Writable & { errored?: NodeJS.ErrnoException | null }).errored;
      return error ? lose(stream, error) : false;
    });
  for (const stream of [context.stdout, context.stderr]) {
    stream.on("error", (error: NodeJS.ErrnoException) => {
      // A full disk or a device error: what is printed is lost, the work is not. The command goes on
      // (a build is not thrown away) and ends with 74.
      if (lose(stream, error) || outputLost) return;
      // The reader went away (`run P | head`): a long operation winds down as on Ctrl-C (its run
      // recorded, exit 141); it writes no more here. Not an error of ours.
      if (context.interruptedBy === "SIGPIPE" || context.interrupt("SIGPIPE")) return;
      process.exit(Number(process.exitCode ?? 0));
    });
  }
  const program = new Command("rootstock")
    .description("Bootstrap a Linux system from source as an executable, cached, resumable and tested plan.")
    .option(
      "--store <dir>",
      "where sources, outputs and runs are kept (default: $ROOTSTOCK_STORE, else $XDG_CACHE_HOME/rootstock, else ~/.cache/rootstock)",
    )
    .option("--no-color", "plain text output")
    .version(ROOTSTOCK_VERSION, "-V, --version", "print rootstock's version")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .configureOutput({
      writeOut: (text) => context.stdout.write(text),
      writeErr: (text) => context.stderr.write(text),
    })
    .hook("preAction", (command, action) => {
      context.setGlobals(command.optsWithGlobals());
      context.givenOptions = givenOptions(action);
    });
  await registerCommands(program, context, argv);
  watchCurrentFolder();
  try {
    await program.parseAsync(argv as string[], { from: "user" });
    return outputLost || lostAtEnd() ? EXIT_OUTPUT_LOST : Number(process.exitCode ?? 0);
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version print and end here; what they printed may be lost too.
      if (lostAtEnd()) return EXIT_OUTPUT_LOST;
      return error.exitCode === 0 ? 0 : error.code === "commander.helpDisplayed" ? 0 : 2;
    }
    // Loaded only for an error: a run that goes well never needs it.
    const { EXIT_USER_ERROR, renderError } = await import("./render-error.ts");
    // Said even when the output was lost: errors go to stderr, which may still be written (a failed build
    // must not pass for a full disk). The failure's status wins over 74: it is what a script must know.
    lostAtEnd();
    const status = renderError(error, context) || EXIT_USER_ERROR;
    // Ended by Ctrl-C (or SIGTERM): 128 + the signal's number, as a shell expects of an interrupted command.
    const signal = context.interruptedBy;
    return signal === undefined
      ? status
      : 128 + process.getBuiltinModule("node:os").constants.signals[signal];
  }
}

/**
 * A command that needs the folder it runs in (a relative path resolved from it, a run recording it) is
 * told, as a user error, that it was removed (a checkout deleted and cloned again under a shell left
 * inside it): Node can no longer name it. Commands that need no folder (-V, runs, a plan given by its
 * full path) still work there.
 */
function watchCurrentFolder(): void {
  const cwd = process.cwd;
  if ((cwd as { watched?: true }).watched) return;
  const watched = () => {
    let path: string;
    try {
      path = cwd();
    } catch (error) {
      throw new RootstockError(
        "ERR_CLI_NO_FOLDER",
        "the current folder no longer exists (it was removed after the shell entered it)",
        {
          hint: 'cd to a folder that exists (`cd "$PWD"` enters it again if it was made anew), then run the command again',
          cause: error,
        },
      );
    }
    // Node reads a name that is not UTF-8 with U+FFFD in place of its bytes: by that name it is nowhere,
    // and a path resolved from it would name another folder (or be made anew beside it).
    if (path.includes("\uFFFD") && !sameFolder(".", path))
      throw new RootstockError(
        "ERR_CLI_FOLDER_NOT_UTF8",
        `the current folder's name is not valid UTF-8 (${path}), and rootstock reads names as UTF-8`,
        {
          hint: "rename it (`convmv -f latin1 -t utf8 --notest DIR`, or mv), or give paths in full from a folder whose name is UTF-8",
        },
      );
    return path;
  };
  process.cwd = Object.assign(watched, { watched: true as const });
}

/** Whether two paths name one folder (a folder under the U+FFFD name beside it is another). */
function sameFolder(a: string, b: string): boolean {
  const { statSync } = process.getBuiltinModule("node:fs");
  try {
    const [one, two] = [statSync(a), statSync(b)];
    return one.dev === two.dev && one.ino === two.ino;
  } catch {
    return false;
  }
}

/**
 * The options a command was given on its command line, as words (`--accel kvm`, `-k`), for the report's
 * command line. Not --set: the report takes the plan's variables as they were set.
 */
function givenOptions(command: Command): string[] {
  const values = command.opts();
  return command.options.flatMap((option) => {
    const key = option.attributeName();
    if (key === "set" || command.getOptionValueSource(key) !== "cli") return [];
    const flag = option.long ?? option.short ?? "";
    const value: unknown = values[key];
    if (option.negate || typeof value === "boolean") return [flag];
    return (Array.isArray(value) ? value : [value]).flatMap((item) => [flag, String(item)]);
  });
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
