import type { Command } from "commander";
import type { CliContext } from "../context.ts";

type Register = (program: Command, context: CliContext) => void;

/**
 * Every command, in the order `--help` lists them, each by the module that defines it. Only the
 * module of the command being run is loaded: loading all of them is most of a no-op run's time.
 */
const COMMANDS: readonly [names: readonly string[], load: () => Promise<Register>][] = [
  [["plan"], async () => (await import("./plan.ts")).registerPlan],
  [["fetch"], async () => (await import("./fetch.ts")).registerFetch],
  [["run"], async () => (await import("./run.ts")).registerRun],
  [["log"], async () => (await import("./log.ts")).registerLog],
  [["shell"], async () => (await import("./shell.ts")).registerShell],
  [["netboot"], async () => (await import("./netboot.ts")).registerNetboot],
  [["image"], async () => (await import("./image.ts")).registerImage],
  [["test"], async () => (await import("./test.ts")).registerTest],
  [["boot"], async () => (await import("./boot.ts")).registerBoot],
  [["sources"], async () => (await import("./sources.ts")).registerSources],
  [["mirror"], async () => (await import("./mirror.ts")).registerMirror],
  [["gc"], async () => (await import("./gc.ts")).registerGc],
  [["demo"], async () => (await import("./demo.ts")).registerDemo],
  [["doctor"], async () => (await import("./doctor.ts")).registerDoctor],
  [["runs", "report"], async () => (await import("./report.ts")).registerReport],
];

/**
 * Registers the command `argv` names, or every command when it names none that exists (help, a
 * typo that commander then answers with a suggestion).
 */
export async function registerCommands(
  program: Command,
  context: CliContext,
  argv: readonly string[] = [],
): Promise<void> {
  const name = commandName(argv);
  const chosen = COMMANDS.filter(([names]) => name !== undefined && names.includes(name));
  for (const [, load] of chosen.length > 0 ? chosen : COMMANDS) (await load())(program, context);
}

/** The first word that is not a global option or its value. */
function commandName(argv: readonly string[]): string | undefined {
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index] as string;
    if (arg === "--store") index++;
    else if (!arg.startsWith("-")) return arg;
  }
  return undefined;
}
