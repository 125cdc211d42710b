import type { Command } from "commander";
import { RunSession } from "../../build/run-session.ts";
import { isRootstockError, RootstockError } from "../../errors.ts";
import { EventBus } from "../../events.ts";
import { NO_BOOT_LINE } from "../../netboot/boot-instructions.ts";
import { reserveListen } from "../../netboot/bundle-server.ts";
import { exportBundle, prepareExportFolder } from "../../netboot/export-bundle.ts";
import { openNetbootPlan, type PreparedNetboot, prepareNetboot } from "../../netboot/prepare-netboot.ts";
import { lanConfigDir, type ServingNetboot, serveNetboot } from "../../netboot/serve-netboot.ts";
import { DEFAULT_LISTEN, parseListen, publicBaseUrl } from "../../netboot/server-address.ts";
import { parseVariableFlags } from "../../plan/open.ts";
import type { CliContext } from "../context.ts";
import { createNetbootReporter } from "../netboot-reporter.ts";
import {
  checkFolderArgument,
  globalMirrors,
  jobsOption,
  mirrorOption,
  offlineBuildOption,
  parseJobs,
  setOption,
} from "../options.ts";
import { createProgressReporter } from "../progress-reporter.ts";

const { availableParallelism } = process.getBuiltinModule("node:os");
const { join } = process.getBuiltinModule("node:path");

interface NetbootFlags {
  listen?: string;
  publicUrl?: string;
  out?: string;
  jobs?: string;
  json?: boolean;
  offline?: boolean;
  mirror: string[];
  set: string[];
}

export function registerNetboot(program: Command, context: CliContext): void {
  program
    .command("netboot")
    .description("build a plan's netboot image and serve it over HTTP until Ctrl-C (or export it with --out)")
    .argument("<plan>", "plan folder")
    .argument("[image]", "the netboot image (default: the plan's only one)")
    .option(
      "--listen <address>",
      `where to serve: ADDRESS:PORT (default ${DEFAULT_LISTEN.host}:${DEFAULT_LISTEN.port})`,
    )
    .option(
      "--public-url <url>",
      "the URL clients reach the server by, in boot scripts (default: as each client asks)",
    )
    .option(
      "--out <dir>",
      "write the bundle, its scripts and a LAN's dnsmasq config into a folder; serve nothing",
    )
    .addOption(jobsOption())
    .option("--json", "stream the run's events as JSON lines")
    .addOption(offlineBuildOption())
    .addOption(mirrorOption())
    .addOption(setOption())
    .action(async (dir: string, image: string | undefined, flags: NetbootFlags) => {
      // Every flag is checked before anything is built.
      const listen = parseListen(flags.listen ?? `${DEFAULT_LISTEN.host}:${DEFAULT_LISTEN.port}`);
      const publicBase = flags.publicUrl === undefined ? undefined : publicBaseUrl(flags.publicUrl);
      if (flags.out !== undefined && publicBase === undefined) {
        throw new RootstockError("ERR_NETBOOT_OUT_NEEDS_URL", `--out ${flags.out} needs --public-url`, {
          hint: "the exported scripts name the server the LAN's machines will fetch from: --public-url http://192.168.1.10:8080/",
        });
      }
      const out = flags.out === undefined ? undefined : checkFolderArgument("--out", flags.out);
      if (out !== undefined && `${out}/`.startsWith(`${checkFolderArgument("--store", context.storeDir)}/`)) {
        throw new RootstockError("ERR_CLI_BAD_FOLDER", `--out ${flags.out} is inside the store`, {
          hint: "export to a folder of its own, outside the store (its entries must stay as rootstock made them)",
        });
      }
      if (out !== undefined && flags.listen !== undefined) {
        throw new RootstockError(
          "ERR_NETBOOT_LISTEN",
          `--listen ${flags.listen} with --out: --out serves nothing`,
          {
            hint: "leave out --listen to export, or --out to serve",
          },
        );
      }
      // Before the build, which may take long: a busy port or a folder that cannot be written is said now.
      if (out !== undefined) await prepareExportFolder(out);
      // An ephemeral port (:0) is no one's to take: the server gets its own when it binds.
      const jobs = parseJobs(flags.jobs, availableParallelism());
      const reserved =
        out === undefined && listen.port !== 0 ? await reserveListen(listen.host, listen.port) : undefined;
      // A refusal before the run begins gives the address back, as the run's end does.
      const releasingOnError = <T>(work: Promise<T>) =>
        work.catch(async (error: unknown) => {
          await reserved?.release();
          throw error;
        });
      const { graph, tools } = await releasingOnError(
        openNetbootPlan(dir, {
          variables: parseVariableFlags(flags.set),
          cacheDir: join(context.storeDir, "cache"),
          ...(image === undefined ? {} : { image }),
        }),
      );

      const bus = new EventBus();
      const progress = flags.json
        ? undefined
        : createProgressReporter(context, { live: context.isTerminal, planArg: dir, set: flags.set });
      if (progress) {
        bus.on(progress.listener);
        bus.on(createNetbootReporter(context));
      } else bus.on((event) => context.out(JSON.stringify(event)));
      const controller = new AbortController();
      const stopListening = context.whenInterrupted(() => controller.abort(new Error("interrupted")));
      const session = await releasingOnError(
        RunSession.open(graph, {
          storeDir: context.storeDir,
          command: "netboot",
          options: context.givenOptions,
          ...(image === undefined ? {} : { targets: [image] }),
          jobs,
          tools,
          emit: bus.emit,
        }),
      );
      let ok = false;
      let failure: unknown;
      try {
        const prepared = await prepareNetboot(graph, {
          session,
          signal: controller.signal,
          tools,
          offline: flags.offline ?? false,
          mirrors: globalMirrors(flags.mirror),
          jobs,
          ...(image === undefined ? {} : { image }),
        });
        progress?.stop();
        if (out !== undefined && publicBase !== undefined) {
          await exportTo(context, prepared, out, publicBase);
        } else {
          await reserved?.release();
          const serving = await serveNetboot(prepared.bundle, {
            host: listen.host,
            port: listen.port,
            lanDir: lanConfigDir(session.runDir),
            emit: session.emit,
            signal: controller.signal,
            ...(flags.publicUrl === undefined ? {} : { publicUrl: flags.publicUrl }),
          });
          if (!flags.json) printServing(context, serving);
          await untilAborted(controller.signal);
          await serving.server.close();
          if (!flags.json) context.out("stopped serving");
        }
        ok = true;
      } catch (error) {
        // Once interrupted, whatever failed on the way out (a read cut short, a build stopped) is the
        // interruption's doing, not a missing input.
        failure = !controller.signal.aborted
          ? error
          : isRootstockError(error) && error.code.endsWith("_INTERRUPTED")
            ? error
            : new RootstockError(
                "ERR_NETBOOT_INTERRUPTED",
                "rootstock netboot was interrupted before it served",
                {
                  cause: error,
                  hint: "run it again to carry on: what was built is kept",
                },
              );
        throw failure;
      } finally {
        await reserved?.release();
        progress?.stop();
        stopListening();
        // Ctrl-C is how serving ends: that run went well. Before serving, it interrupts the build; any
        // other failure (a port taken meanwhile, an export that cannot be written) is the run's reason.
        const interrupted = !ok && controller.signal.aborted;
        await session.close({
          ok,
          ...(interrupted ? { interrupted: true } : {}),
          ...(failure !== undefined && !interrupted ? { error: failure } : {}),
        });
        if (!flags.json) {
          context.out(`report: ${join(session.runDir, "report.html")}`);
          context.out(`        ${join(session.runDir, "report.md")}`);
        }
      }
    });
}

function printServing(context: CliContext, serving: ServingNetboot): void {
  context.out(`serving ${serving.server.url} until Ctrl-C; boot from it:`);
  const width = Math.max(6, ...serving.instructions.map((instruction) => instruction.what.length)) + 1;
  if (serving.instructions.length === 0) context.out(`  ${NO_BOOT_LINE}`);
  for (const instruction of serving.instructions) {
    context.out(`  ${`${instruction.what}:`.padEnd(width)} ${instruction.line}`);
  }
  const { lan } = serving;
  if ("skipped" in lan) context.out(`  ${"a LAN:".padEnd(width)} no dnsmasq config: ${lan.skipped}`);
  else if (lan.dnsmasq === undefined)
    context.out(`  ${"a LAN:".padEnd(width)} no dnsmasq config: ${lan.dnsmasqSkipped}`);
  else {
    context.out(`  ${"a LAN:".padEnd(width)} dnsmasq --no-daemon --conf-file=${lan.dnsmasq}   (as root)`);
    if (lan.missingIpxe.length > 0) {
      context.out(
        `  ${"".padEnd(width)} its tftp/ lacks ${lan.missingIpxe.join(" and ")}: install the ipxe package`,
      );
    }
  }
  context.out("requests:");
}

async function exportTo(
  context: CliContext,
  prepared: PreparedNetboot,
  out: string,
  base: URL,
): Promise<void> {
  const result = await exportBundle(prepared.bundle, out, { base });
  context.out(`exported to ${result.dir}: ${result.files.join(", ")}`);
  context.out(
    `  serve that folder at ${base.href} with any static HTTP server; ${join(result.dir, "README.txt")} says how to boot`,
  );
  if (result.dnsmasq !== undefined)
    context.out(`  a LAN: dnsmasq --no-daemon --conf-file=${result.dnsmasq}   (as root)`);
  else context.out(`  no dnsmasq config: ${result.dnsmasqSkipped}`);
  if (result.missingIpxe.length > 0) {
    context.out(
      `  tftp/ lacks ${result.missingIpxe.join(" and ")}: install the ipxe package and export again`,
    );
  }
}

/** Serving ends on Ctrl-C, which may have come before there was anything to wait for. */
function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}
