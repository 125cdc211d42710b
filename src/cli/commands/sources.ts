import type { Command } from "commander";
import { RootstockError } from "../../errors.ts";
import { openPlan, parseVariableFlags } from "../../plan/open.ts";
import { importSources } from "../../sources/import-sources.ts";
import { planSources } from "../../sources/plan-sources.ts";
import { SourceStore } from "../../sources/source-store.ts";
import { formatBytes, inlineName } from "../../units.ts";
import type { CliContext } from "../context.ts";
import { interruptible } from "../interruptible.ts";
import { setOption } from "../options.ts";

const { basename } = process.getBuiltinModule("node:path");
const { fileURLToPath } = process.getBuiltinModule("node:url");

export function registerSources(program: Command, context: CliContext): void {
  const sources = program.command("sources").description("the source store: what is there, and adding to it");

  sources
    .command("import")
    .description("admit local files into the source store by their sha256")
    .argument("<file...>", "files, or folders of files")
    .option("--plan <plan>", "admit only files a source of this plan pins, and say which step each serves")
    .addOption(setOption())
    .action(async (files: string[], flags: { plan?: string; set: string[] }) => {
      // A relative path is read from the current folder: one removed under the shell is said so, not
      // taken for a file that does not exist.
      if (files.some((file) => !file.startsWith("/"))) process.cwd();
      const pins = flags.plan
        ? planSources(
            (await openPlan(flags.plan, { variables: parseVariableFlags(flags.set), identifyTools: false }))
              .graph,
          )
        : undefined;
      const { result } = await interruptible(
        context,
        (signal) => importSources(files, { storeDir: context.storeDir, signal, ...(pins ? { pins } : {}) }),
        "run again: the files admitted so far are kept",
      );
      for (const file of result.imported) {
        const serves = file.satisfies.map((pin) => `${pin.steps?.join(", ") ?? "?"}: ${pin.file}`);
        const what = serves.length > 0 ? `serves ${[...new Set(serves)].join("; ")}` : file.sha256;
        const status = file.added ? context.style("green", "added") : context.style("dim", "had  ");
        context.out(
          `  ${status} ${inlineName(file.path)} ${context.style("dim", `(${formatBytes(file.size)})`)} ${what}`,
        );
      }
      // Named as one of the plan's files (or by its hash, as a mirror keeps it), with other bytes.
      const meantBy = (path: string) => {
        const name = basename(path);
        return pins?.find((pin) => pin.file === name || pin.sha256 === name);
      };
      for (const file of result.unmatched) {
        const meant = meantBy(file.path);
        context.out(
          meant
            ? `  ${context.style("yellow", "skip ")} ${inlineName(file.path)}: named as ${meant.file} of step ${meant.steps?.join(", ") ?? "?"}, whose pin is sha256 ${meant.sha256}, but it is sha256 ${file.sha256} (${formatBytes(file.size)}): a damaged copy, or another version; not admitted`
            : `  ${context.style("yellow", "skip ")} ${inlineName(file.path)}: sha256 ${file.sha256} matches no source of the plan; not admitted`,
        );
      }
      for (const entry of result.passedOver)
        context.out(
          `  ${context.style("yellow", "skip ")} ${inlineName(entry.path)}: ${entry.reason}; not admitted`,
        );
      const added = result.imported.filter((file) => file.added).length;
      const damaged = result.unmatched.filter((file) => meantBy(file.path) !== undefined).length;
      context.out(
        `sources import: ${added} added, ${result.imported.length - added} already present, ${damaged > 0 ? `${damaged} named as the plan's but with other bytes, ` : ""}${result.unmatched.length - damaged} matched nothing${result.passedOver.length > 0 ? `, ${result.passedOver.length} passed over` : ""}`,
      );
      // With a plan, what it still lacks: found out now, not at the next run.
      if (pins) {
        const store = new SourceStore(context.storeDir);
        const lacking = new Map<string, (typeof pins)[number]>();
        for (const pin of pins) if (!(await store.has(pin.sha256))) lacking.set(pin.sha256, pin);
        if (lacking.size > 0) {
          context.out(`sources import: ${inlineName(flags.plan ?? "")} still lacks ${lacking.size}:`);
          for (const pin of lacking.values())
            context.out(
              `  ${context.style("red", "missing")} step ${pin.steps?.join(", ") ?? "?"}: ${pin.file} (sha256 ${pin.sha256})`,
            );
        } else context.out(`sources import: ${inlineName(flags.plan ?? "")} has every source it needs`);
      }
      // Every file there was passed over (private, a link that leads nowhere): said so, with why above.
      if (result.imported.length === 0 && result.unmatched.length === 0 && result.passedOver.length > 0) {
        const count = result.passedOver.length;
        throw new RootstockError(
          "ERR_IMPORT_NOTHING",
          `no file given could be taken in: ${count === 1 ? "the one found was" : `all ${count} found were`} passed over, each with its reason above`,
          {
            hint: "deal with what the skip lines say (a file others may not read: `chmod o+r` it and open its folders, if it may be shared), then import again",
          },
        );
      }
      if (result.imported.length === 0 && flags.plan) {
        throw new RootstockError(
          "ERR_IMPORT_NO_MATCH",
          `none of the files given matches a source of ${inlineName(flags.plan ?? "")}`,
          {
            hint: "check that the files are the pinned versions: their sha256 must equal a source's sha256",
          },
        );
      }
      if (result.imported.length === 0) {
        throw new RootstockError("ERR_IMPORT_NOTHING", "the folders given hold no files", {
          hint: "give the files to import, or folders that hold them",
        });
      }
    });

  sources
    .command("list")
    .description("every source of a plan, and whether the store has it")
    .argument("<plan>", "plan folder")
    .addOption(setOption())
    .action(async (dir: string, flags: { set: string[] }) => {
      const { graph } = await openPlan(dir, {
        variables: parseVariableFlags(flags.set),
        identifyTools: false,
      });
      const store = new SourceStore(context.storeDir);
      // Counted as files, as fetch counts them: two steps that share a tarball list it twice.
      const missingFiles = new Set<string>();
      const misfitFiles = new Set<string>();
      const pins = planSources(graph);
      for (const source of pins) {
        const size = await store.sizeOf(source.sha256);
        // A stored file of another size than the pin is refused by fetch and run (a wrong pin, or a
        // damaged file: fetch says which).
        const fits = size !== undefined && (source.size === undefined || source.size === size);
        if (size === undefined) missingFiles.add(source.sha256);
        else if (!fits) misfitFiles.add(source.sha256);
        // One word, so that the columns stay; what is wrong about a size goes at the end of the line.
        const status =
          size === undefined
            ? context.style("yellow", "missing")
            : fits
              ? context.style("green", "present")
              : context.style("red", "misfit ");
        const origin =
          source.url ?? (source.debian ? `debian ${source.debian.package}=${source.debian.version}` : "");
        // Where a present file came from, when that is not the place the plan names (a mirror, an import).
        const came = size === undefined ? undefined : store.originOf(source.sha256);
        // A file:// URL's file is noted by its path.
        const pinnedAt = source.url?.startsWith("file:") ? fileURLToPath(source.url) : source.url;
        const note =
          fits || size === undefined
            ? came && came.from !== source.url && came.from !== pinnedAt
              ? ` ${context.style("dim", `(${came.how} from ${came.from}, ${came.at.slice(0, 10)})`)}`
              : ""
            : ` ${context.style("red", `(${size} bytes, not the pinned ${source.size})`)}`;
        context.out(
          `  ${status} ${(source.steps ?? []).join(",").padEnd(16)} ${source.file} ${context.style("dim", `${source.sha256.slice(0, 12)} ${origin}`)}${note}`,
        );
      }
      const fetchCommand = `rootstock fetch ${context.planWords(dir, flags.set)}`;
      const missing = missingFiles.size;
      const misfit = misfitFiles.size;
      const files = new Set(pins.map((source) => source.sha256)).size;
      context.out(
        missing === 0 && misfit === 0
          ? `sources: all ${files} present`
          : `sources: ${[
              missing > 0 ? `${missing} missing (fetch them with \`${fetchCommand}\`)` : "",
              misfit > 0
                ? `${misfit} of another size than pinned (\`${fetchCommand}\` says whether the pin or the file is wrong)`
                : "",
            ]
              .filter(Boolean)
              .join(", ")}`,
      );
    });
}
