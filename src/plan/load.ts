/**
 * Reads a plan folder into pure data. Every problem found is collected and reported at once, each
 * naming its file, line, field, what was expected and what was found.
 */
import { parse as parseToml, TomlError } from "smol-toml";
import type { z } from "zod";
import { describeCause, type ErrorLocation, RootstockError, RootstockErrors } from "../errors.ts";
import { nonUtf8Part } from "../file-names.ts";
import { inlineName, parseDuration, parseSize } from "../units.ts";
import { findCycles } from "./cycles.ts";
import { depVariable } from "./dep-variable.ts";
import { schemaProblems } from "./issues.ts";
import { KeyLocator } from "./locate.ts";
import { HOST_TOOL_FOLDERS, mountSuggestion, RESERVED_MOUNT_POINTS } from "./mount-points.ts";
import { NAME_PATTERN, RUN_FOLDER_NAMES } from "./names.ts";
import {
  mismatchedComparisons,
  PredicateSyntaxError,
  parsePredicate,
  predicateVariables,
  type Value,
} from "./predicate.ts";
import { type ImageFile, type PlanFile, planSchema, type StepFile, stepSchema } from "./schema.ts";
import { didYouMean } from "./suggest.ts";
import { brokenLink, checkInsidePlan, readPlanFile, readPlanTree, type TreeContext } from "./tree.ts";
import type { Image, Plan, PlanFileEntry, Source, Step } from "./types.ts";

const { lstatSync, readdirSync, readFileSync, realpathSync, statSync } = process.getBuiltinModule("node:fs");
const { basename, dirname, join, resolve } = process.getBuiltinModule("node:path");

export interface LoadPlanOptions {
  /** How the plan folder is named in messages (default: as given). */
  displayDir?: string;
}

interface ParsedToml<T> {
  data: T;
  locator: KeyLocator;
  file: string;
}

const ARCHIVE = /\.(tar(\.(gz|bz2|xz|zst|lz|lzma))?|tgz|tbz2?|txz|zip)$/;

export function isArchive(file: string): boolean {
  return ARCHIVE.test(file);
}

/** A file's text, or undefined when it cannot be read. */
/** Quoted as JSON, with every control character shown as \\uXXXX: JSON leaves DEL and C1 ones raw. */
function quotedVisibly(text: string): string {
  return JSON.stringify(text).replace(
    /\p{Cc}/gu,
    (char) => `\\u${(char.codePointAt(0) ?? 0).toString(16).padStart(4, "0")}`,
  );
}

/** The steps there are to name, or how to make one when there are none. */
function stepsHint(names: readonly string[]): string {
  return names.length > 0
    ? `steps of this plan: ${names.join(", ")}`
    : "this plan has no steps yet: list each in a stage's steps, with its folder steps/NAME holding a step.toml";
}

/** A file's text; undefined when there is none. One that is there but cannot be read is no missing one. */
function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    if (code === "EISDIR")
      throw new RootstockError("ERR_PLAN_BAD_FILE", `${path} is a folder, not a file`, {
        hint: "a plan's plan.toml and each step's step.toml are files: move the folder away",
      });
    // Unreadable (EACCES): said as such where the command line shows it, with its path.
    if (code === "EACCES" || code === "EPERM") throw error;
    throw new RootstockError(
      "ERR_PLAN_BAD_FILE",
      code === "ELOOP"
        ? `${path} cannot be reached: a link on its way (it, or a folder it is in) leads round in a loop`
        : `cannot read ${path}: ${describeCause(error)}`,
      { hint: "a plan's plan.toml and each step's step.toml are files (or links to files) that can be read" },
    );
  }
}

/**
 * Editors' and patch's own leftovers (hidden files, `x.patch~`, `.x.patch.swp`, `x.orig`, `x.rej`) are not
 * patches: applied, a backup would undo the patch it copies.
 */
function isPatchName(path: string): boolean {
  const name = path.slice(path.lastIndexOf("/") + 1);
  return !name.startsWith(".") && !/(~|\.orig|\.rej)$/.test(name);
}

/** Every entry under a folder that is not a folder (files and links, broken ones too), relative to it. */
function filesUnder(dir: string, prefix = ""): string[] {
  return readFolder(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      let folder = false;
      try {
        folder = lstatSync(path).isDirectory();
      } catch {
        return [];
      }
      return folder ? filesUnder(path, `${prefix}${name}/`) : [`${prefix}${name}`];
    });
}

/**
 * smol-toml meets a string's line end before its closing quote as a control character: an odd number
 * of quotes on the line says which of the two it is.
 */
function tomlHint(reason: string, line: string): string {
  if (/redefine/.test(reason)) {
    const header = /^\s*\[+\s*([^\]]+?)\s*\]/.exec(line)?.[1];
    const key = /^\s*("[^"]*"|'[^']*'|[^\s=]+)\s*=/.exec(line)?.[1];
    if (header !== undefined)
      return `[${header}] is given twice: merge the two into one (a list of tables is written [[${header}]])`;
    if (key !== undefined) return `${key} is given twice in the same table; keep one`;
  }
  if (!/control characters are not allowed in strings/.test(reason))
    return "see https://toml.io for the syntax; strings need quotes, tables [brackets]";
  const quotes = line.replace(/\\./g, "").match(/"/g)?.length ?? 0;
  return quotes % 2 === 1
    ? "a string ends on the line it starts: is its closing quote missing? (a string over several lines takes triple quotes)"
    : "write a control character in a string as an escape, such as \\t or \\u001b";
}

/** A folder, or a link to one (a step folder may be linked within the plan). */
function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** A folder's names, or none when it cannot be read. */
function readFolder(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

function isFile(path: string): boolean {
  return statIfAny(path)?.isFile() ?? false;
}

/** What a path leads to; undefined for nothing there, or a link loop (said then as a link to nothing). */
function statIfAny(path: string): ReturnType<typeof statSync> | undefined {
  try {
    return statSync(path, { throwIfNoEntry: false });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ELOOP") return undefined;
    throw error;
  }
}

/** What is at a path, following links, in words for a message. */
function fileKind(
  path: string,
): "file" | "missing" | "a folder" | "a link to nothing" | "not a regular file" {
  const target = statIfAny(path);
  if (target?.isFile()) return "file";
  if (target?.isDirectory()) return "a folder";
  if (target !== undefined) return "not a regular file";
  return lstatSync(path, { throwIfNoEntry: false }) === undefined ? "missing" : "a link to nothing";
}

/**
 * Async for its callers; the reading inside is synchronous: a plan is hundreds of tiny files, and each
 * asynchronous call would cost a thread-pool round trip while nothing else waits to run.
 */
export async function loadPlan(dir: string, options: LoadPlanOptions = {}): Promise<Plan> {
  const planDir = resolve(dir);
  const displayDir = options.displayDir ?? dir;
  const shown = (path: string) => join(displayDir, path);
  const problems: RootstockError[] = [];

  const planInfo = statIfAny(planDir);
  if (planInfo !== undefined && !planInfo.isDirectory()) {
    throw new RootstockError("ERR_PLAN_NOT_FOUND", `${inlineName(displayDir)} is a file, not a plan folder`, {
      hint: `give the folder that holds plan.toml${basename(planDir) === "plan.toml" ? ` (${dirname(displayDir)})` : ""}`,
    });
  }
  if (!planInfo) {
    let link: boolean | undefined;
    try {
      link = lstatSync(planDir, { throwIfNoEntry: false })?.isSymbolicLink();
    } catch (error) {
      // A link loop on its way is a link that leads nowhere too; a file on its way (ENOTDIR) is said as such.
      if ((error as NodeJS.ErrnoException).code !== "ELOOP") throw error;
      link = true;
    }
    const notUtf8 = link ? undefined : nonUtf8Part(planDir);
    const whose = notUtf8 === planDir ? "its name" : `the name of ${notUtf8}`;
    throw new RootstockError(
      "ERR_PLAN_NOT_FOUND",
      `plan folder ${inlineName(displayDir)} ${link ? "is a link that leads nowhere (or back to itself)" : notUtf8 ? `cannot be opened: ${whose} is not valid UTF-8, and rootstock reads names as UTF-8` : "does not exist"}`,
      {
        hint: notUtf8
          ? "rename the folder to UTF-8 (`convmv -f latin1 -t utf8 --notest DIR`, or mv)"
          : "a plan is a folder holding plan.toml and steps/NAME/step.toml; check the path",
      },
    );
  }
  const context: TreeContext = { planDir, displayDir, planReal: realpathSync(planDir) };
  checkInsidePlan(context, join(planDir, "plan.toml"));
  checkInsidePlan(context, join(planDir, "steps"));
  const planText = readText(join(planDir, "plan.toml"));
  if (planText === undefined) {
    throw new RootstockError("ERR_PLAN_NOT_FOUND", `no plan.toml in ${inlineName(displayDir)}`, {
      file: shown("plan.toml"),
      hint: "a plan folder needs a plan.toml with name, arch and [[stages]]",
    });
  }

  const planToml = parseTomlText(planText, shown("plan.toml"), problems, join(planDir, "plan.toml"));
  const planFile = planToml && validate(planSchema, planToml, problems);

  // Which steps exist: those the stages list, else (plan.toml broken) those on disk, so their errors show too.
  // Only folders are steps: a README or an editor's swap file in steps/ is not one.
  const stepFolders = readFolder(join(planDir, "steps")).filter(
    (name) => !name.startsWith(".") && isFolder(join(planDir, "steps", name)),
  );
  const _listed = planFile
    ? planFile.stages.flatMap((stage) => stage.steps.map((name) => ({ name, stage: stage.name })))
    : [];
  const stageOf = new Map<string, string>();
  if (planFile) {
    for (const [index, stage] of planFile.stages.entries()) {
      if (planFile.stages.findIndex((other) => other.name === stage.name) !== index) {
        problems.push(
          new RootstockError("ERR_PLAN_STAGE_DUPLICATE", `two stages are named "${stage.name}"`, {
            file: shown("plan.toml"),
            line: planToml?.locator.lineOf(["stages", index, "name"]),
            field: `stages[${index}].name`,
            hint: "give each stage a name of its own: reports group steps by stage",
          }),
        );
      }
      for (const [stepIndex, name] of stage.steps.entries()) {
        const first = stageOf.get(name);
        if (first !== undefined) {
          problems.push(
            new RootstockError(
              "ERR_PLAN_STEP_DUPLICATE",
              `step "${name}" is listed twice (first in stage "${first}")`,
              {
                file: shown("plan.toml"),
                line: planToml?.locator.lineOf(["stages", index, "steps", stepIndex]),
                field: `stages[${index}].steps[${stepIndex}]`,
                hint: "a step runs once; list it in one stage only",
              },
            ),
          );
        } else stageOf.set(name, stage.name);
      }
    }
    for (const folder of stepFolders) {
      if (!stageOf.has(folder)) {
        problems.push(
          new RootstockError(
            "ERR_PLAN_STEP_UNLISTED",
            `step folder ${/\p{Cc}/u.test(folder) ? quotedVisibly(`steps/${folder}`) : `steps/${folder}`} is not listed in any stage`,
            {
              file: shown("plan.toml"),
              field: "stages",
              hint: [
                // A misspelling is a listed name without a folder of its own; one that has its folder is fine.
                didYouMean(
                  folder,
                  [...stageOf.keys()].filter((name) => !stepFolders.includes(name)),
                ),
                `add ${quotedVisibly(folder)} to a stage's steps, or remove the folder`,
              ]
                .filter(Boolean)
                .join(" Otherwise "),
            },
          ),
        );
      }
    }
  }
  // A plan.toml with a mistake elsewhere may still list its stages' steps: those are the steps, not
  // every folder (a stray one's problems are told once the stages can say it is not listed).
  const listed = planFile ? undefined : stepsListedIn(planToml?.data);
  const names = planFile ? [...stageOf.keys()] : (listed ?? stepFolders.sort());
  const variables = planFile?.variables ?? {};

  const steps = new Map<string, Step>();
  const stepTomls = new Map<string, ParsedToml<unknown>>();
  // Dependencies as written, also for steps with other mistakes, so that a bad dep is reported with them.
  const declaredDeps = new Map<string, string[]>();
  for (const name of names) {
    const stepDir = `steps/${name}`;
    try {
      checkInsidePlan(context, join(planDir, stepDir));
    } catch (error) {
      problems.push(error as RootstockError);
      continue;
    }
    const text = readText(join(planDir, stepDir, "step.toml"));
    // Without stages that could be read, every folder was taken for a step: one without its step.toml
    // may be a folder no stage lists, which only the stages could tell. Said once they can.
    if (text === undefined && !planFile && listed === undefined) continue;
    if (text === undefined) {
      const stageIndex = planFile?.stages.findIndex((stage) => stage.steps.includes(name)) ?? -1;
      const link = brokenLink(join(planDir, stepDir));
      problems.push(
        new RootstockError(
          "ERR_PLAN_STEP_MISSING",
          `step "${name}" has no ${stepDir}/step.toml${link ? ` (${stepDir} is a ${link})` : ""}`,
          {
            file: shown("plan.toml"),
            line: stageIndex >= 0 ? planToml?.locator.lineOf(["stages", stageIndex, "steps"]) : undefined,
            field: stageIndex >= 0 ? `stages[${stageIndex}].steps` : undefined,
            // Its folder may be there without the file: no other folder is then meant.
            hint: link
              ? `point the link at a step folder inside the plan, or put the step's folder in its place`
              : [
                  // A misspelt folder is one no stage lists: a listed step's own is not meant.
                  stepFolders.includes(name)
                    ? ""
                    : didYouMean(
                        name,
                        stepFolders.filter((folder) => !names.includes(folder)),
                      ),
                  `create ${shown(`${stepDir}/step.toml`)}`,
                ]
                  .filter(Boolean)
                  .join(" Otherwise "),
          },
        ),
      );
      continue;
    }
    const parsed = parseTomlText(
      text,
      shown(`${stepDir}/step.toml`),
      problems,
      join(planDir, stepDir, "step.toml"),
    );
    if (!parsed) continue;
    stepTomls.set(name, parsed);
    const rawDeps = (parsed.data as { deps?: unknown }).deps;
    if (Array.isArray(rawDeps))
      declaredDeps.set(
        name,
        rawDeps.filter((dep): dep is string => typeof dep === "string"),
      );
    const stepFile = validate(stepSchema, parsed, problems);
    if (!stepFile) continue;
    const step = loadStep(context, name, stageOf.get(name) ?? "", stepFile, parsed, planFile, problems);
    if (step) steps.set(name, step);
  }

  if (planFile) {
    checkReferences(planFile, steps, declaredDeps, stepTomls, variables, problems, planToml);
  }
  const images = planFile
    ? loadImages(context, planFile, planToml as ParsedToml<unknown>, steps, problems)
    : new Map();

  if (problems.length > 0 || !planFile) {
    const count = problems.length;
    throw new RootstockErrors(
      "ERR_PLAN_INVALID",
      `plan ${inlineName(displayDir)} has ${count} problem${count === 1 ? "" : "s"}`,
      problems,
    );
  }
  const plan: Plan = {
    name: planFile.name,
    arch: planFile.arch,
    dir: planDir,
    displayDir,
    variables,
    hostTools: planFile.host?.tools ?? ["sh"],
    hostPackages: planFile.host?.packages ?? [],
    stages: planFile.stages.map((stage) => ({ ...stage })),
    steps,
    images,
    ...(planFile.description === undefined ? {} : { description: planFile.description }),
    ...(planFile.upstream === undefined ? {} : { upstream: planFile.upstream }),
    ...(planFile.documentation === undefined ? {} : { documentation: planFile.documentation }),
    ...(planFile.kernel === undefined ? {} : { kernel: planFile.kernel }),
  };
  return plan;
}

function parseTomlText(
  text: string,
  file: string,
  problems: RootstockError[],
  path?: string,
): ParsedToml<unknown> | undefined {
  // Read as UTF-8, a byte that is not becomes U+FFFD: only then is it worth looking for one.
  const line = path !== undefined && text.includes("\ufffd") ? notUtf8Line(path) : undefined;
  if (line !== undefined) {
    problems.push(
      new RootstockError("ERR_PLAN_NOT_UTF8", "this line is not UTF-8 text (TOML files are UTF-8)", {
        file,
        line,
        hint: "convert the file to UTF-8 (for Latin-1 text: iconv -f LATIN1 -t UTF-8), or remove the stray bytes",
      }),
    );
    return undefined;
  }
  try {
    return { data: parseToml(text), locator: new KeyLocator(text), file };
  } catch (error) {
    if (error instanceof TomlError) {
      const reason = error.message.split("\n")[0]?.replace(/^Invalid TOML document: /, "") ?? "syntax error";
      problems.push(
        new RootstockError("ERR_PLAN_TOML_SYNTAX", `TOML syntax error: ${reason} (column ${error.column})`, {
          file,
          line: error.line,
          hint: tomlHint(reason, text.split("\n")[(error.line ?? 1) - 1] ?? ""),
        }),
      );
      return undefined;
    }
    throw error;
  }
}

/** The first line of the file that does not decode as UTF-8. */
function notUtf8Line(path: string): number | undefined {
  const bytes = readFileSync(path);
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let start = 0;
  for (let line = 1; start <= bytes.length; line++) {
    const end = bytes.indexOf(0x0a, start);
    const stop = end === -1 ? bytes.length : end;
    try {
      decoder.decode(bytes.subarray(start, stop));
    } catch {
      return line;
    }
    start = stop + 1;
  }
  return undefined;
}

/**
 * Validates, recording every problem. When unknown keys are the only problems, the rest of the file is
 * still usable, so its data is returned (without them) and later checks report their findings too.
 */
function validate<T>(
  schema: z.ZodType<T>,
  parsed: ParsedToml<unknown>,
  problems: RootstockError[],
): T | undefined {
  const result = schema.safeParse(parsed.data, { reportInput: true });
  if (result.success) return result.data;
  problems.push(
    ...schemaProblems(result.error.issues, { file: parsed.file, locator: parsed.locator, schema }),
  );
  if (!result.error.issues.every((issue) => issue.code === "unrecognized_keys")) return undefined;
  const trimmed = structuredClone(parsed.data);
  for (const issue of result.error.issues) {
    if (issue.code !== "unrecognized_keys") continue;
    let table = trimmed as Record<PropertyKey, unknown>;
    for (const part of issue.path) table = table[part] as Record<PropertyKey, unknown>;
    for (const key of issue.keys) delete table[key];
  }
  const retry = schema.safeParse(trimmed);
  return retry.success ? retry.data : undefined;
}

function loadStep(
  context: TreeContext,
  name: string,
  stage: string,
  file: StepFile,
  parsed: ParsedToml<unknown>,
  plan: PlanFile | undefined,
  problems: RootstockError[],
): Step | undefined {
  const dir = `steps/${name}`;
  const stepDir = join(context.planDir, dir);
  const where = (field: (string | number)[]) => ({
    file: parsed.file,
    line: parsed.locator.lineOf(field),
    field: field
      .map((part, index) => (typeof part === "number" ? `[${part}]` : index === 0 ? part : `.${part}`))
      .join(""),
  });
  const before = problems.length;
  const guard = <T>(work: () => T): T | undefined => {
    try {
      return work();
    } catch (error) {
      if (error instanceof RootstockError) problems.push(error);
      else throw error;
      return undefined;
    }
  };

  let script: PlanFileEntry | undefined;
  const scriptPath = file.script ?? "build.sh";
  const scriptKind = fileKind(join(stepDir, scriptPath));
  if (scriptKind === "file") script = guard(() => readPlanFile(context, stepDir, scriptPath));
  else if (scriptKind !== "missing") {
    // A build.sh that is a folder or a dangling link is a mistake, not a step with the default phases.
    problems.push(
      new RootstockError(
        "ERR_PLAN_SCRIPT_NOT_FILE",
        file.script === undefined
          ? `the step's script is ${scriptKind}, not a file`
          : `script ${join(context.displayDir, dir, scriptPath)} is ${scriptKind}, not a file`,
        {
          ...(file.script === undefined
            ? { file: join(context.displayDir, dir, scriptPath) }
            : where(["script"])),
          hint:
            file.script === undefined
              ? "make build.sh a file with the step's phases, or remove it to use the default phases (configure, make, make install)"
              : "name a file of the step's folder in `script`",
        },
      ),
    );
  } else if (file.script !== undefined) {
    problems.push(
      new RootstockError(
        "ERR_PLAN_SCRIPT_MISSING",
        `script ${join(context.displayDir, dir, scriptPath)} does not exist`,
        {
          ...where(["script"]),
          hint: "create it, or remove `script` to use the default phases (configure, make, make install)",
        },
      ),
    );
  }
  if (script && readText(join(stepDir, scriptPath))?.includes("\r\n")) {
    problems.push(
      new RootstockError(
        "ERR_PLAN_SCRIPT_CRLF",
        "the script has Windows line ends (CR LF), which sh reads as part of each command",
        {
          file: join(context.displayDir, dir, scriptPath),
          hint: `convert it to LF line ends, for example with sed -i 's/\\r$//' ${join(context.displayDir, dir, scriptPath)}`,
        },
      ),
    );
  }

  let patches: PlanFileEntry[] = [];
  if (file.patches !== undefined) {
    const seenPatches = new Set<string>();
    for (const [index, patch] of file.patches.entries()) {
      if (seenPatches.has(patch)) {
        // Applied twice, a patch undoes itself (patch takes the second for a reversed one).
        problems.push(
          new RootstockError("ERR_PLAN_DUPLICATE_PATCH", `"${patch}" is listed twice in patches`, {
            ...where(["patches", index]),
            hint: "list each patch once",
          }),
        );
        continue;
      }
      seenPatches.add(patch);
      const exists = isFile(join(stepDir, "patches", patch));
      if (!exists) {
        problems.push(
          new RootstockError(
            "ERR_PLAN_PATCH_MISSING",
            `patch ${join(context.displayDir, dir, "patches", patch)} does not exist`,
            {
              ...where(["patches", index]),
              hint: "patches are files in the step's patches/ folder; check the name",
            },
          ),
        );
        continue;
      }
      const entry = guard(() => readPlanFile(context, join(stepDir, "patches"), patch));
      if (entry) patches.push(entry);
    }
    // A patch left out of the list would be skipped without a word, as an unlisted step folder would be.
    for (const name of filesUnder(join(stepDir, "patches"))) {
      if (seenPatches.has(name) || !isPatchName(name)) continue;
      problems.push(
        new RootstockError(
          "ERR_PLAN_PATCH_UNLISTED",
          `patches/${name} is in the step's folder but not in its patches list, so it would not be applied`,
          {
            ...where(["patches"]),
            hint: `add "${name}" to patches, or move it out of ${join(context.displayDir, dir, "patches")}`,
          },
        ),
      );
    }
  } else {
    patches =
      guard(() =>
        readPlanTree(context, join(stepDir, "patches"))
          .filter((entry) => isPatchName(entry.path))
          .sort((a, b) => a.path.localeCompare(b.path, "en", { numeric: true })),
      ) ?? [];
  }
  const files = guard(() => readPlanTree(context, join(stepDir, "files"))) ?? [];

  const sources: Source[] = [];
  const seenFiles = new Map<string, number>();
  const seenInto = new Map<string, number>();
  let firstArchive = true;
  for (const [index, source] of (file.sources ?? []).entries()) {
    const fileName =
      source.file ?? (source.url ? basename(new URL(source.url).pathname) : source.debian?.file) ?? "";
    if (fileName === "" || fileName === "." || fileName === "..") {
      problems.push(
        new RootstockError(
          "ERR_PLAN_BAD_VALUE",
          `cannot derive a file name from url ${JSON.stringify(source.url)}`,
          {
            ...where(["sources", index, "url"]),
            hint: 'add `file = "name.tar.gz"` to the source',
          },
        ),
      );
      continue;
    }
    // The name becomes a file in the build folder and a line of a mirror's SHA256SUMS.
    const bytes = Buffer.byteLength(fileName);
    if (bytes > 255 || /\p{Cc}/u.test(fileName)) {
      const field = source.file !== undefined ? ["file"] : source.url ? ["url"] : ["debian", "file"];
      problems.push(
        new RootstockError(
          "ERR_PLAN_BAD_VALUE",
          bytes > 255
            ? `source file name ${quotedVisibly(`${fileName.slice(0, 40)}…`)} is ${bytes} bytes long; a file name may have at most 255`
            : `source file name ${quotedVisibly(fileName)} holds a control character (a newline, a tab)`,
          {
            ...where(["sources", index, ...field]),
            hint: `give the source a file name ${bytes > 255 ? "of at most 255 bytes" : "without control characters"}: \`file = "name.tar.gz"\``,
          },
        ),
      );
      continue;
    }
    const previous = seenFiles.get(fileName);
    if (previous !== undefined) {
      problems.push(
        new RootstockError(
          "ERR_PLAN_DUPLICATE_SOURCE",
          `two sources are both named ${fileName} (sources[${previous}] and sources[${index}])`,
          {
            ...where(["sources", index]),
            hint: "give one of them another `file` name",
          },
        ),
      );
    }
    seenFiles.set(fileName, index);
    const extract = source.extract ?? isArchive(fileName);
    const into = extract
      ? (source.into ?? (firstArchive ? "src" : fileName.replace(ARCHIVE, "")))
      : undefined;
    if (extract) firstArchive = false;
    // A folder to unpack into: none for a file kept as it is; never the build folder itself; each of its
    // names a file name (255 bytes, no control characters).
    const intoFault =
      source.into === undefined
        ? undefined
        : !extract
          ? `${source.extract === false ? "a source with extract = false" : `${fileName} is no archive rootstock knows by its name, so it`} is not unpacked: it stays in $SOURCES, and into has nothing to place`
          : source.into.split("/").every((part) => part === "." || part === "")
            ? "into names the folder to unpack into, inside the build folder: not the build folder itself"
            : source.into.split("/").some((part) => Buffer.byteLength(part) > 255 || /\p{Cc}/u.test(part))
              ? "each name in into may have at most 255 bytes and no control characters"
              : undefined;
    if (intoFault !== undefined) {
      problems.push(
        new RootstockError("ERR_PLAN_BAD_VALUE", `into ${quotedVisibly(source.into ?? "")}: ${intoFault}`, {
          ...where(["sources", index, "into"]),
          hint: !extract
            ? "remove into: the file is in $SOURCES (extract = true is for an archive rootstock does not know by its name)"
            : 'give a folder of its own, such as into = "src"',
        }),
      );
    } else if (into !== undefined) {
      // "./files" is files, and "./src" the src of another source: compared without "." parts.
      const folder = into
        .split("/")
        .filter((part) => part !== ".")
        .join("/");
      const top = folder.split("/")[0] as string;
      const clash = seenInto.get(folder);
      if (RESERVED_BUILD_FOLDERS.includes(top)) {
        problems.push(
          new RootstockError(
            "ERR_PLAN_BAD_VALUE",
            `cannot unpack into ${JSON.stringify(into)}: ${top}/ holds the step's ${top === "sources" ? "source files ($SOURCES)" : "files/ ($FILES)"}`,
            { ...where(["sources", index, "into"]), hint: 'choose another folder, such as into = "src2"' },
          ),
        );
      } else if (clash !== undefined) {
        problems.push(
          new RootstockError(
            "ERR_PLAN_BAD_VALUE",
            `sources[${clash}] and sources[${index}] would both be unpacked into ${JSON.stringify(into)}`,
            {
              ...where(["sources", index, source.into === undefined ? "url" : "into"]),
              hint: `give one of them its own \`into = "…"\` folder`,
            },
          ),
        );
      }
      seenInto.set(folder, index);
    }
    sources.push({
      file: fileName,
      sha256: source.sha256,
      mirrors: source.mirrors ?? [],
      extract,
      ...(source.size === undefined ? {} : { size: source.size }),
      ...(source.url === undefined ? {} : { url: source.url }),
      ...(into === undefined ? {} : { into }),
      ...(source.debian === undefined ? {} : { debian: source.debian }),
    });
  }

  let when: Step["when"];
  if (file.when !== undefined) {
    try {
      const line = parsed.locator.lineOf(["when"]);
      when = {
        source: file.when,
        predicate: parsePredicate(file.when),
        ...(line === undefined ? {} : { line }),
      };
    } catch (error) {
      if (!(error instanceof PredicateSyntaxError)) throw error;
      problems.push(
        new RootstockError(
          "ERR_PLAN_PREDICATE",
          `cannot parse \`when = ${JSON.stringify(file.when)}\`: ${error.message} at column ${error.column}`,
          {
            ...where(["when"]),
            hint: 'write a predicate of the plan\'s [variables], such as `BUILD_KERNEL == true` or `FLAVOUR != "tiny" && !MINIMAL`',
          },
        ),
      );
    }
  }
  if (problems.length > before) return undefined;

  const defaults = plan?.defaults ?? {};
  const timeout = file.timeout ?? defaults.timeout;
  const hostTools = plan?.host?.tools ?? ["sh"];
  const step: Step = {
    name,
    stage,
    dir,
    deps: file.deps ?? [],
    sandbox: file.sandbox ?? defaults.sandbox ?? "bwrap",
    root: file.root ?? defaults.root ?? "host",
    retries: file.retries ?? defaults.retries ?? 0,
    tools: [...new Set([...hostTools, ...(file.tools ?? [])])],
    env: file.env ?? {},
    sources,
    mounts: file.mounts ?? [],
    patches,
    files,
    ...(file.version === undefined ? {} : { version: file.version }),
    ...(file.description === undefined ? {} : { description: file.description }),
    ...(file.jobs === undefined ? {} : { jobs: file.jobs }),
    ...(timeout === undefined ? {} : { timeoutMs: parseDuration(timeout) as number }),
    ...(when === undefined ? {} : { when }),
    ...(script === undefined ? {} : { script }),
  };
  return step;
}

/** The step names a plan.toml's stages list, read from its TOML as it is; undefined without any. */
function stepsListedIn(data: unknown): string[] | undefined {
  const stages = (data as { stages?: unknown } | undefined)?.stages;
  if (!Array.isArray(stages)) return undefined;
  const names = stages.flatMap((stage: { steps?: unknown }) =>
    // A name the schema refused is said so already; as a step it would only add follow-on errors.
    Array.isArray(stage?.steps)
      ? stage.steps.filter((name): name is string => typeof name === "string" && NAME_PATTERN.test(name))
      : [],
  );
  return names.length > 0 ? [...new Set(names)] : undefined;
}

/** Names rootstock gives every step itself (docs/plans.md, "Inside the sandbox"). */
const RESERVED_ENV = new Set([
  "HOME",
  "TMPDIR",
  "JOBS",
  "BUILD",
  "SRC",
  "SOURCES",
  "FILES",
  "OUT",
  "ROOTSTOCK_STEP",
  "ROOTSTOCK_ARCH",
]);

/** Folders of /build that rootstock fills itself. */
const RESERVED_BUILD_FOLDERS = ["sources", "files"];

type At = (field: (string | number)[], text: string) => ErrorLocation;

/** What a step's fields allow each other, and what the sandbox keeps for itself. */
function checkLayout(step: Step, at: At, problems: RootstockError[]): void {
  for (const key of Object.keys(step.env)) {
    if (RESERVED_ENV.has(key) || key.startsWith("DEP_")) {
      problems.push(
        new RootstockError(
          "ERR_PLAN_RESERVED_ENV",
          RESERVED_ENV.has(key)
            ? `rootstock sets ${key} itself; [env] cannot replace it`
            : `names that begin with DEP_ are rootstock's (DEP_<STEP> is a dependency's output); [env] cannot use them`,
          {
            ...at(["env", key], `env.${key}`),
            hint: "choose another name; [env] may replace PATH, PREFIX, LC_ALL and SOURCE_DATE_EPOCH",
          },
        ),
      );
    }
  }
  const seen = new Set<string>();
  step.mounts.forEach((mount, index) => {
    const reserved =
      mount.at === "/"
        ? "/"
        : RESERVED_MOUNT_POINTS.find((point) => mount.at === point || mount.at.startsWith(`${point}/`));
    if (reserved !== undefined) {
      problems.push(
        new RootstockError("ERR_PLAN_MOUNT_RESERVED", `mount at ${mount.at}: the sandbox keeps ${reserved}`, {
          ...at(["mounts", index, "at"], `mounts[${index}].at`),
          hint: `choose a path of its own, such as ${mountSuggestion(mount.step)}; ${RESERVED_MOUNT_POINTS.join(", ")} and / are the sandbox's`,
        }),
      );
    } else if (seen.has(mount.at)) {
      problems.push(
        new RootstockError("ERR_PLAN_MOUNT_TWICE", `two mounts at ${mount.at}`, {
          ...at(["mounts", index, "at"], `mounts[${index}].at`),
          hint: "each mount needs a path of its own",
        }),
      );
    } else if (
      step.root === "host" &&
      HOST_TOOL_FOLDERS.some(
        (folder) =>
          mount.at === folder || mount.at.startsWith(`${folder}/`) || folder.startsWith(`${mount.at}/`),
      )
    ) {
      // Inside such a folder (/etc/myapp): nothing may be there to hide, but the folder is the tools'.
      const within = HOST_TOOL_FOLDERS.find((folder) => mount.at.startsWith(`${folder}/`));
      problems.push(
        new RootstockError(
          "ERR_PLAN_MOUNT_RESERVED",
          within === undefined
            ? `mount at ${mount.at} would hide the host's ${mount.at}`
            : `mount at ${mount.at} is inside the host's ${within}, which its tools run from and read`,
          {
            ...at(["mounts", index, "at"], `mounts[${index}].at`),
            hint: `a root of host tools needs its ${within ?? mount.at} as it is; choose a path of its own, such as ${mountSuggestion(mount.step)}`,
          },
        ),
      );
    } else {
      const outer = [...seen].find(
        (other) => mount.at.startsWith(`${other}/`) || other.startsWith(`${mount.at}/`),
      );
      if (outer !== undefined) {
        problems.push(
          new RootstockError(
            "ERR_PLAN_MOUNT_NESTED",
            `mounts at ${mount.at} and ${outer}: one lies inside the other`,
            {
              ...at(["mounts", index, "at"], `mounts[${index}].at`),
              hint: "a mount is read-only, so nothing can be mounted inside it; give each a path apart",
            },
          ),
        );
      }
    }
    seen.add(mount.at);
  });
  const variables = new Map<string, string>();
  step.deps.forEach((dep, index) => {
    const variable = depVariable(dep);
    const before = variables.get(variable);
    if (step.deps.indexOf(dep) !== index) {
      problems.push(
        new RootstockError("ERR_PLAN_DUPLICATE_DEP", `"${dep}" is listed twice in deps`, {
          ...at(["deps", index], `deps[${index}]`),
          hint: "list each dependency once",
        }),
      );
    } else if (before !== undefined) {
      problems.push(
        new RootstockError(
          "ERR_PLAN_DEP_VARIABLE_CLASH",
          `"${dep}" and "${before}" would both be $${variable} (a dependency's variable is its name in capitals, each character other than a letter or digit an underscore)`,
          {
            ...at(["deps", index], `deps[${index}]`),
            hint: "rename one of the two steps, so that each dependency has a variable of its own",
          },
        ),
      );
    }
    if (before === undefined) variables.set(variable, dep);
  });
  if (step.sandbox === "host" && step.root === "deps") {
    problems.push(
      new RootstockError(
        "ERR_BUILD_HOST_ROOT",
        'sandbox = "host" runs in the host\'s root, not root = "deps"',
        {
          ...at(["root"], "root"),
          hint: 'use sandbox = "bwrap" for a root made of dependency outputs',
        },
      ),
    );
  }
  if (step.sandbox === "host" && step.mounts.length > 0) {
    problems.push(
      new RootstockError("ERR_BUILD_HOST_MOUNT", 'sandbox = "host" cannot mount outputs at chosen paths', {
        ...at(["mounts"], "mounts"),
        hint: `use $${"DEP_"}NAME in the script, or sandbox = "bwrap"`,
      }),
    );
  }
  if (step.root === "deps" && step.deps.length === 0) {
    problems.push(
      new RootstockError("ERR_PLAN_EMPTY_ROOT", 'root = "deps" with no deps: the root would be empty', {
        ...at(["root"], "root"),
        hint: 'add the steps whose outputs make the root (one must provide /bin/sh) to deps, or use root = "host"',
      }),
    );
  }
}

function checkReferences(
  plan: PlanFile,
  steps: Map<string, Step>,
  declaredDeps: Map<string, string[]>,
  stepTomls: Map<string, ParsedToml<unknown>>,
  variables: Record<string, unknown>,
  problems: RootstockError[],
  planToml?: ParsedToml<unknown>,
): void {
  const stageIndex = new Map<string, number>();
  plan.stages.forEach((stage, index) => {
    for (const name of stage.steps) if (!stageIndex.has(name)) stageIndex.set(name, index);
  });
  const known = [...stageIndex.keys()];
  const variableNames = Object.keys(variables);

  for (const [name, deps] of declaredDeps) {
    const parsed = stepTomls.get(name) as ParsedToml<unknown>;
    const at = (field: (string | number)[], text: string) => ({
      file: parsed.file,
      line: parsed.locator.lineOf(field),
      field: text,
    });
    deps.forEach((dep, index) => {
      if (!stageIndex.has(dep)) {
        problems.push(
          new RootstockError(
            "ERR_PLAN_UNKNOWN_DEP",
            `depends on "${dep}", which is not a step of this plan`,
            {
              ...at(["deps", index], `deps[${index}]`),
              hint:
                didYouMean(
                  dep,
                  known.filter((step) => step !== name),
                ) || stepsHint(known),
            },
          ),
        );
      } else if ((stageIndex.get(dep) as number) > (stageIndex.get(name) as number)) {
        const depStage = plan.stages[stageIndex.get(dep) as number]?.name;
        const ownStage = plan.stages[stageIndex.get(name) as number]?.name;
        problems.push(
          new RootstockError(
            "ERR_PLAN_STAGE_ORDER",
            `depends on "${dep}" of the later stage "${depStage}" (this step is in stage "${ownStage}")`,
            {
              ...at(["deps", index], `deps[${index}]`),
              hint: "a step may use steps of its own or earlier stages; move one of them",
            },
          ),
        );
      }
    });
  }

  for (const step of steps.values()) {
    const parsed = stepTomls.get(step.name) as ParsedToml<unknown>;
    const at = (field: (string | number)[], text: string) => {
      const line = parsed.locator.lineOf(field);
      // A value the step took from plan.toml's [defaults] is wrong there.
      const key = field[0] as keyof NonNullable<PlanFile["defaults"]>;
      if (line === undefined && field.length === 1 && planToml && plan.defaults?.[key] !== undefined)
        return {
          file: planToml.file,
          line: planToml.locator.lineOf(["defaults", key]),
          field: `defaults.${key}, taken by step "${step.name}"`,
        };
      return { file: parsed.file, line, field: text };
    };
    checkLayout(step, at, problems);
    step.mounts.forEach((mount, index) => {
      if (mount.step === step.name) {
        problems.push(
          new RootstockError(
            "ERR_PLAN_MOUNT_NOT_DEP",
            `mounts its own output ("${mount.step}"), which it is making`,
            {
              ...at(["mounts", index, "step"], `mounts[${index}].step`),
              hint: "a step sees its output at /out ($OUT); mount another step's",
            },
          ),
        );
      } else if (!stageIndex.has(mount.step)) {
        problems.push(
          new RootstockError(
            "ERR_PLAN_UNKNOWN_STEP",
            `mounts "${mount.step}", which is not a step of this plan`,
            {
              ...at(["mounts", index, "step"], `mounts[${index}].step`),
              hint:
                didYouMean(
                  mount.step,
                  known.filter((other) => other !== step.name),
                ) || stepsHint(known),
            },
          ),
        );
      } else if (!step.deps.includes(mount.step)) {
        problems.push(
          new RootstockError(
            "ERR_PLAN_MOUNT_NOT_DEP",
            `mounts "${mount.step}" at ${mount.at}, but does not depend on it`,
            {
              ...at(["mounts", index, "step"], `mounts[${index}].step`),
              hint: `add "${mount.step}" to deps, so that it is built first and its key counts`,
            },
          ),
        );
      }
    });
    if (step.when) {
      for (const comparison of mismatchedComparisons(
        step.when.predicate,
        variables as Record<string, Value>,
      )) {
        problems.push(
          new RootstockError(
            "ERR_PLAN_PREDICATE_TYPES",
            `predicate compares ${comparison}, which can never be alike`,
            {
              ...at(["when"], "when"),
              hint: "compare each side with a value of its own type: a boolean with true or false, a number with a number (2, 1.10), a string with a quoted string",
            },
          ),
        );
      }
      for (const variable of predicateVariables(step.when.predicate)) {
        if (!(variable in variables)) {
          problems.push(
            new RootstockError(
              "ERR_PLAN_UNKNOWN_VARIABLE",
              `predicate uses variable "${variable}", which plan.toml does not define`,
              {
                ...at(["when"], "when"),
                hint: didYouMean(variable, variableNames) || "define it under [variables] in plan.toml",
              },
            ),
          );
        }
      }
    }
    for (const [key, value] of Object.entries(step.env)) {
      if (value.replace(/\$\$|\$\{[^}]*\}/g, "").includes("${")) {
        problems.push(
          new RootstockError("ERR_PLAN_BAD_VALUE", `env ${key} has a \${ without its closing }`, {
            ...at(["env", key], `env.${key}`),
            hint: "write ${NAME} for a plan variable, or $$ for a literal $",
          }),
        );
      }
      for (const match of value.matchAll(/\$\{([^}]*)\}/g)) {
        const variable = match[1] as string;
        if (!(variable in variables)) {
          problems.push(
            new RootstockError(
              "ERR_PLAN_UNKNOWN_VARIABLE",
              `env ${key} uses \${${variable}}, which plan.toml does not define`,
              {
                ...at(["env", key], `env.${key}`),
                hint:
                  didYouMean(variable, variableNames) ||
                  "define it under [variables] in plan.toml, or write $$ for a literal $",
              },
            ),
          );
        }
      }
    }
  }

  for (const cycle of findCycles(
    [...steps.values()].map((step) => ({ name: step.name, deps: step.deps.filter((dep) => steps.has(dep)) })),
  )) {
    const first = cycle[0] as string;
    const parsed = stepTomls.get(first) as ParsedToml<unknown>;
    problems.push(
      new RootstockError("ERR_PLAN_CYCLE", `dependency cycle: ${[...cycle, first].join(" → ")}`, {
        file: parsed.file,
        line: parsed.locator.lineOf(["deps"]),
        field: "deps",
        hint: "a step cannot need itself, directly or through others; remove one of these deps",
      }),
    );
  }
}

function loadImages(
  context: TreeContext,
  plan: PlanFile,
  planToml: ParsedToml<unknown>,
  steps: Map<string, Step>,
  problems: RootstockError[],
): Map<string, Image> {
  const images = new Map<string, Image>();
  const file = planToml.file;
  const at = (path: (string | number)[], field: string) => ({
    file,
    line: planToml.locator.lineOf(path),
    field,
  });
  const known = [...steps.keys()];
  // A step listed in a stage whose step.toml has problems of its own is still a step: those are reported.
  const listed = new Set(plan.stages.flatMap((stage) => stage.steps));
  const stepRef = (name: string, path: (string | number)[], field: string) => {
    if (steps.has(name) || listed.has(name)) return;
    problems.push(
      new RootstockError("ERR_PLAN_UNKNOWN_STEP", `names step "${name}", which is not a step of this plan`, {
        ...at(path, field),
        hint:
          didYouMean(name, [...new Set([...known, ...listed])]) ||
          stepsHint([...new Set([...known, ...listed])]),
      }),
    );
  };
  if (plan.kernel) stepRef(plan.kernel.step, ["kernel", "step"], "kernel.step");
  const entries = Object.entries(plan.images ?? {}) as [string, ImageFile][];
  const imageNames = entries.map(([name]) => name);
  for (const [name, image] of entries) {
    const base = ["images", name];
    if (RUN_FOLDER_NAMES.has(name)) {
      problems.push(
        new RootstockError(
          "ERR_PLAN_BAD_VALUE",
          `image name "${name}" is taken by a file of every run's folder`,
          {
            ...at(base, `images.${name}`),
            hint: `choose another name: the run folder keeps ${[...RUN_FOLDER_NAMES].join(", ")}, and a folder per tested image`,
          },
        ),
      );
    }
    image.contents.forEach((step, index) => {
      stepRef(step, [...base, "contents", index], `images.${name}.contents[${index}]`);
    });
    let files: Image["files"];
    if (image.files !== undefined) {
      const folder = join(context.planDir, image.files);
      const exists = statIfAny(folder)?.isDirectory();
      if (!exists) {
        const broken = brokenLink(folder);
        const file = statIfAny(folder) !== undefined;
        problems.push(
          new RootstockError(
            file ? "ERR_PLAN_BAD_FILE" : "ERR_PLAN_FILE_MISSING",
            `folder ${join(context.displayDir, image.files)} ${file ? "is a file, not a folder" : broken === undefined ? "does not exist" : `is a ${broken}`}`,
            {
              ...at([...base, "files"], `images.${name}.files`),
              hint: "files names a folder of the plan whose contents are copied into the image",
            },
          ),
        );
      } else {
        try {
          files = {
            dir: image.files,
            entries: readPlanTree(context, join(context.planDir, image.files), { keepLinks: true }),
          };
        } catch (error) {
          if (error instanceof RootstockError) problems.push(error);
          else throw error;
        }
      }
    }
    for (const key of ["size", "label"] as const) {
      if (image[key] !== undefined && image.kind !== "ext4") {
        const kind = image.kind === "squashfs" ? "a squashfs" : "an initramfs";
        problems.push(
          new RootstockError(
            "ERR_PLAN_BAD_VALUE",
            `${key} is for ext4 images; image "${name}" is ${image.kind}`,
            {
              ...at([...base, key], `images.${name}.${key}`),
              hint: `remove ${key}: ${key === "size" ? `${kind} is as large as what it holds` : `${kind} has no volume label`}`,
            },
          ),
        );
      }
    }
    // One node per path: a second would silently replace the first.
    const devicePaths = new Set<string>();
    (image.devices ?? []).forEach((device, index) => {
      const path = `/${device.path.replace(/^\/+/, "")}`;
      if (devicePaths.has(path)) {
        problems.push(
          new RootstockError("ERR_PLAN_BAD_VALUE", `image "${name}" lists the device ${path} twice`, {
            ...at([...base, "devices", index, "path"], `images.${name}.devices[${index}].path`),
            hint: "keep one entry per device path",
          }),
        );
      }
      devicePaths.add(path);
    });
    const boot = image.boot;
    if (boot) {
      if (boot.kernel)
        stepRef(boot.kernel.step, [...base, "boot", "kernel", "step"], `images.${name}.boot.kernel.step`);
      else if (!plan.kernel) {
        problems.push(
          new RootstockError("ERR_PLAN_NO_KERNEL", `image "${name}" boots, but no kernel is declared`, {
            ...at([...base, "boot"], `images.${name}.boot`),
            hint: 'add `kernel = { step = "linux", path = "boot/bzImage" }` to plan.toml or to this [boot] table',
          }),
        );
      }
      const imageRef = (ref: string, path: (string | number)[], field: string, kinds?: string[]) => {
        const target = plan.images?.[ref];
        if (!target) {
          problems.push(
            new RootstockError(
              "ERR_PLAN_UNKNOWN_IMAGE",
              `names image "${ref}", which the plan does not declare`,
              {
                ...at(path, field),
                hint:
                  didYouMean(ref, imageNames) || `images of this plan: ${imageNames.join(", ") || "none"}`,
              },
            ),
          );
        } else if (kinds && !kinds.includes(target.kind)) {
          problems.push(
            new RootstockError(
              "ERR_PLAN_BAD_VALUE",
              `image "${ref}" is ${target.kind}, expected ${kinds.join(" or ")}`,
              {
                ...at(path, field),
                hint: `name an image declared with kind = ${kinds.map((kind) => `"${kind}"`).join(" or ")}${
                  kinds.includes("initramfs")
                    ? " (the initrd the kernel starts)"
                    : " (a disk the machine gets)"
                }`,
              },
            ),
          );
        }
      };
      if (boot.initrd !== undefined && image.kind === "initramfs") {
        problems.push(
          new RootstockError(
            "ERR_PLAN_BAD_VALUE",
            `image "${name}" is an initramfs, which boots as its own initrd; boot.initrd is for disk images`,
            {
              ...at([...base, "boot", "initrd"], `images.${name}.boot.initrd`),
              hint: "remove initrd from this [boot] table",
            },
          ),
        );
      } else if (boot.initrd !== undefined)
        imageRef(boot.initrd, [...base, "boot", "initrd"], `images.${name}.boot.initrd`, ["initramfs"]);
      (boot.disks ?? []).forEach((disk, index) => {
        imageRef(disk, [...base, "boot", "disks", index], `images.${name}.boot.disks[${index}]`, [
          "ext4",
          "squashfs",
        ]);
      });
      checkMachineFiles(context, boot, [...base, "boot"], at, problems);
    }
    const netboot = image.netboot;
    if (netboot) {
      const where = [...base, "netboot"];
      const field = `images.${name}.netboot`;
      if (image.kind !== "squashfs") {
        problems.push(
          new RootstockError(
            "ERR_PLAN_BAD_VALUE",
            `image "${name}" is ${image.kind}; a netboot system is a squashfs`,
            {
              ...at(where, field),
              hint: 'set kind = "squashfs": the RAM root mounts it under a tmpfs overlay',
            },
          ),
        );
      }
      stepRef(netboot.busybox.step, [...where, "busybox", "step"], `${field}.busybox.step`);
      if (netboot.kernel) stepRef(netboot.kernel.step, [...where, "kernel", "step"], `${field}.kernel.step`);
      else if (!plan.kernel) {
        problems.push(
          new RootstockError("ERR_PLAN_NO_KERNEL", `image "${name}" netboots, but no kernel is declared`, {
            ...at(where, field),
            hint: 'add `kernel = { step = "linux", path = "boot/bzImage" }` to plan.toml or to this [netboot] table',
          }),
        );
      }
      checkMachineFiles(context, netboot, where, at, problems);
    }
    const compression =
      image.compression ?? (image.kind === "ext4" ? "none" : image.kind === "squashfs" ? "xz" : "gzip");
    if (image.kind === "ext4" && compression !== "none") {
      problems.push(
        new RootstockError(
          "ERR_PLAN_BAD_VALUE",
          `an ext4 image is not compressed, got compression = "${compression}"`,
          {
            ...at([...base, "compression"], `images.${name}.compression`),
            hint: 'remove compression, or choose kind = "squashfs" for a compressed read-only image',
          },
        ),
      );
    }
    const ownerIds = (text: string) => {
      const [uid, gid] = text.split(":").map(Number) as [number, number];
      return { uid, gid };
    };
    images.set(name, {
      name,
      kind: image.kind,
      contents: image.contents,
      compression,
      owners: Object.entries(image.owners ?? {}).map(([path, owner]) => ({
        path: path.replace(/^\/+/, ""),
        ...ownerIds(owner),
      })),
      devices: (image.devices ?? []).map((device) => ({
        path: device.path.replace(/^\/+/, ""),
        type: device.type,
        major: device.major,
        minor: device.minor,
        mode: device.mode ?? 0o600,
        ...ownerIds(device.owner ?? "0:0"),
      })),
      ...(image.description === undefined ? {} : { description: image.description }),
      ...(files === undefined ? {} : { files }),
      ...(image.size === undefined ? {} : { sizeBytes: parseSize(image.size) as number }),
      ...(image.label === undefined ? {} : { label: image.label }),
      ...(boot === undefined
        ? {}
        : {
            boot: {
              disks: boot.disks ?? [],
              fatal: boot.fatal ?? [],
              tests: boot.tests ?? [],
              ...(boot.kernel === undefined ? {} : { kernel: boot.kernel }),
              ...(boot.cmdline === undefined ? {} : { cmdline: boot.cmdline }),
              ...(boot.initrd === undefined ? {} : { initrd: boot.initrd }),
              ...(boot.memory === undefined ? {} : { memoryBytes: parseSize(boot.memory) as number }),
              ...(boot.timeout === undefined ? {} : { timeoutMs: parseDuration(boot.timeout) as number }),
              ...(boot.prompt === undefined ? {} : { prompt: boot.prompt }),
            },
          }),
      ...(netboot === undefined
        ? {}
        : {
            netboot: {
              busybox: { step: netboot.busybox.step, path: netboot.busybox.path ?? "bin/busybox" },
              init: netboot.init ?? "/sbin/init",
              fatal: netboot.fatal ?? [],
              tests: netboot.tests ?? [],
              ...(netboot.kernel === undefined ? {} : { kernel: netboot.kernel }),
              ...(netboot.cmdline === undefined ? {} : { cmdline: netboot.cmdline }),
              ...(netboot.embed === undefined ? {} : { embedMaxBytes: parseSize(netboot.embed) as number }),
              ...(netboot.memory === undefined ? {} : { memoryBytes: parseSize(netboot.memory) as number }),
              ...(netboot.timeout === undefined
                ? {}
                : { timeoutMs: parseDuration(netboot.timeout) as number }),
              ...(netboot.prompt === undefined ? {} : { prompt: netboot.prompt }),
            },
          }),
    });
  }
  return images;
}

/** The test modules, prompt and fatal patterns of a machine an image boots in (`[boot]` or `[netboot]`). */
function checkMachineFiles(
  context: TreeContext,
  machine: { tests?: string[]; fatal?: string[]; prompt?: string },
  path: string[],
  at: (path: (string | number)[], field: string) => { file: string; line: number | undefined; field: string },
  problems: RootstockError[],
): void {
  const field = path.join(".");
  for (const [index, test] of (machine.tests ?? []).entries()) {
    const kind = fileKind(join(context.planDir, test));
    if (kind !== "file") {
      problems.push(
        new RootstockError(
          "ERR_PLAN_FILE_MISSING",
          `test ${join(context.displayDir, test)} ${kind === "missing" ? "does not exist" : `is ${kind}, not a file`}`,
          {
            ...at([...path, "tests", index], `${field}.tests[${index}]`),
            hint: "tests are TypeScript modules in the plan, each named, such as tests/boot.test.ts",
          },
        ),
      );
    }
  }
  const patterns: [string, (string | number)[], string][] = [
    ...(machine.fatal ?? []).map(
      (pattern, index) =>
        [pattern, [...path, "fatal", index], `${field}.fatal[${index}]`] as [
          string,
          (string | number)[],
          string,
        ],
    ),
    ...(machine.prompt === undefined
      ? []
      : [[machine.prompt, [...path, "prompt"], `${field}.prompt`] as [string, (string | number)[], string]]),
  ];
  for (const [pattern, where, name] of patterns) {
    try {
      new RegExp(pattern);
    } catch {
      problems.push(
        new RootstockError(
          "ERR_PLAN_BAD_VALUE",
          `${name.endsWith("prompt") ? "prompt" : "fatal pattern"} ${JSON.stringify(pattern)} is not a valid regular expression`,
          {
            ...at(where, name),
            hint: "it is a JavaScript regular expression: escape [ ( ) with a backslash to match them",
          },
        ),
      );
    }
  }
}
