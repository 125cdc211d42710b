import type { Command } from "commander";
import { bootPlan } from "../../check/boot-plan.ts";
import { RootstockError } from "../../errors.ts";
import type { TimedEvent } from "../../events.ts";
import { openPlan, parseVariableFlags } from "../../plan/open.ts";
import { attachConsole } from "../../vm/attach-console.ts";
import { buildFailure } from "../build-failure.ts";
import type { CliContext } from "../context.ts";
import { interruptible } from "../interruptible.ts";
import {
  checkFolderArgument,
  globalMirrors,
  jobsOption,
  mirrorOption,
  offlineBuildOption,
  parseCount,
  setOption,
} from "../options.ts";
import { parseAccel } from "../parse-accel.ts";
import { planReporters } from "../plan-reporters.ts";

const { join } = process.getBuiltinModule("node:path");

interface BootFlags {
  persist?: boolean;
  diskDir?: string;
  jobs?: string;
  offline?: boolean;
  mirror: string[];
  set: string[];
  accel?: string;
}

export function registerBoot(program: Command, context: CliContext): void {
  program
    .command("boot")
    .description("build what an image needs and boot it, with its serial console on this terminal")
    .argument("<plan>", "plan folder")
    .argument("[image]", "the image to boot (default: the plan's first bootable image)")
    .option("--persist", "write to copies of the disks kept outside the store, which later boots reuse")
    .option(
      "--disk-dir <dir>",
      "where --persist keeps its copies (default: $ROOTSTOCK_DISKS, else $XDG_DATA_HOME/rootstock/disks, else ~/.local/share/rootstock/disks)",
    )
    .addOption(jobsOption())
    .addOption(offlineBuildOption())
    .addOption(mirrorOption())
    .addOption(setOption())
    .option("--accel <accel>", "auto (KVM when a probe shows it works), kvm or tcg (default auto)")
    .action(async (dir: string, image: string | undefined, flags: BootFlags) => {
      const jobs = parseCount("--jobs", flags.jobs);
      const accel = parseAccel(flags.accel);
      if (flags.diskDir !== undefined && !flags.persist) {
        // Without --persist the disks are throwaway overlays: the folder would be silently unused.
        throw new RootstockError(
          "ERR_CLI_DISK_DIR_WITHOUT_PERSIST",
          "--disk-dir is used only with --persist",
          {
            hint: "add --persist to keep the guest's writes in copies there",
          },
        );
      }
      const diskDir =
        flags.diskDir === undefined ? undefined : checkFolderArgument("--disk-dir", flags.diskDir);
      const { graph, tools } = await openPlan(dir, {
        variables: parseVariableFlags(flags.set),
        cacheDir: join(context.storeDir, "cache"),
      });
      // Standard output is the guest's console; everything rootstock says goes to standard error.
      const say = context.toStderr();
      const progress = planReporters(say, dir, flags.set);
      const stdin = process.stdin;
      const { result, interrupted } = await interruptible(context, (signal) =>
        bootPlan(graph, {
          commandOptions: context.givenOptions,
          storeDir: context.storeDir,
          tools,
          emit: (event) => {
            progress.emit(event);
            describe(say, { ...event, time: Date.now() });
          },
          signal,
          offline: flags.offline ?? false,
          mirrors: globalMirrors(flags.mirror),
          persist: flags.persist ?? false,
          attach: async (vm) => {
            progress.stop();
            const raw = stdin.isTTY === true;
            if (raw) stdin.setRawMode(true);
            try {
              return await attachConsole(vm, { input: stdin, output: context.stdout, signal });
            } finally {
              if (raw) stdin.setRawMode(false);
              // Nothing reads standard input any more; it must not keep the process alive.
              stdin.pause();
            }
          },
          ...(image === undefined ? {} : { image }),
          ...(diskDir === undefined ? {} : { diskDir }),
          ...(jobs === undefined ? {} : { jobs }),
          ...(accel === undefined ? {} : { accel }),
        }),
      ).finally(progress.stop);
      if (!result.ok) throw buildFailure(result.build, context.planWords(dir, flags.set), interrupted);
      const how = result.interrupted
        ? "interrupted; the machine was stopped"
        : result.ended === "detached"
          ? "left the console; the machine was stopped"
          : `the machine stopped (${result.exit?.signal ?? `exit status ${result.exit?.code}`})`;
      const consoleLog = join(result.runDir, result.image, "console.log");
      say.err(`\r\nrootstock: ${how}. Console log: ${consoleLog}`);
      for (const disk of result.disks) say.err(`rootstock: ${disk.image} keeps its writes in ${disk.path}`);
      if (flags.persist && result.disks.length === 0)
        say.err(`rootstock: --persist kept nothing: ${result.image} boots with no ext4 disk`);
      if (result.panic !== undefined && !result.interrupted)
        throw new RootstockError("ERR_BOOT_PANIC", `the kernel panicked: ${result.panic}`, {
          hint: `the console log shows what came before: ${consoleLog}`,
        });
      // Exits as an interrupted command does (130 for Ctrl-C, 143 for SIGTERM), as the run is recorded.
      if (result.interrupted)
        throw new RootstockError("ERR_INTERRUPTED", "the boot was interrupted", {
          hint: "leave the console with Ctrl-] to stop the machine as a finished boot",
        });
    });
}

/** The lines that frame a person's console: what boots, how to leave, where the disks and logs are. */
function describe(say: CliContext, event: TimedEvent): void {
  switch (event.type) {
    case "vm:persist":
      say.err(
        `rootstock: disk ${event.image} writes through to ${event.path} (${event.created ? "copied from the image now" : "kept from an earlier boot"}${event.stale ? "; the image has changed since: delete the copy to start from the new one" : ""})`,
      );
      break;
    case "vm:start":
      say.err(
        `rootstock: ${event.machine} is starting; its serial console follows. Leave with Ctrl-] (the machine is stopped then).`,
      );
      break;
    default:
      break;
  }
}
