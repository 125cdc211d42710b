import type { Command } from "commander";
import type { CliContext } from "../context.ts";
import { registerBoot } from "./boot.ts";
import { registerDemo } from "./demo.ts";
import { registerDoctor } from "./doctor.ts";
import { registerFetch } from "./fetch.ts";
import { registerGc } from "./gc.ts";
import { registerImage } from "./image.ts";
import { registerLog } from "./log.ts";
import { registerMirror } from "./mirror.ts";
import { registerNetboot } from "./netboot.ts";
import { registerPlan } from "./plan.ts";
import { registerReport } from "./report.ts";
import { registerRun } from "./run.ts";
import { registerShell } from "./shell.ts";
import { registerSources } from "./sources.ts";
import { registerTest } from "./test.ts";

/** Every command, in the order `--help` lists them. */
export function registerCommands(program: Command, context: CliContext): void {
  registerPlan(program, context);
  registerFetch(program, context);
  registerRun(program, context);
  registerLog(program, context);
  registerShell(program, context);
  registerNetboot(program, context);
  registerImage(program, context);
  registerTest(program, context);
  registerBoot(program, context);
  registerSources(program, context);
  registerMirror(program, context);
  registerGc(program, context);
  registerDemo(program, context);
  registerDoctor(program, context);
  registerReport(program, context);
}
