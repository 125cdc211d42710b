import type { Command } from "commander";
import type { CliContext } from "../context.ts";
import { registerDoctor } from "./doctor.ts";
import { registerGc } from "./gc.ts";
import { registerLog } from "./log.ts";
import { registerPlan } from "./plan.ts";
import { registerRun } from "./run.ts";
import { registerShell } from "./shell.ts";

/** Every command, in the order `--help` lists them. */
export function registerCommands(program: Command, context: CliContext): void {
  registerPlan(program, context);
  registerRun(program, context);
  registerLog(program, context);
  registerShell(program, context);
  registerGc(program, context);
  registerDoctor(program, context);
}
