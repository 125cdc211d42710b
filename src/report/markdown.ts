/**
 * report.md: an entry in the format of the public bootstrappable-distros list, filled in from what the
 * run did, plus what the list lacks: the binary seeds the bootstrap trusted.
 */

import type { RunContext } from "../events.ts";
import { formatBytes, formatDuration, pathWord, typedWord } from "../units.ts";
import {
  type ImageRecord,
  imageOutcome,
  obtainedText,
  type RunReport,
  runRelative,
  type StepRecord,
  sourcesOf,
  testCounts,
  testTitle,
} from "./model.ts";

const { join } = process.getBuiltinModule("node:path");

const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;" };

/**
 * Text from a plan, a build or a guest, as Markdown shows it: no HTML of its own (report.md is meant to be
 * published) and no terminal control sequences.
 */
function text(value: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  return value.replace(/[&<>\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g, (char) => ENTITIES[char] ?? "\ufffd");
}

export function renderMarkdown(report: RunReport): string {
  const context = report.context;
  const plan = context?.plan;
  const lines: string[] = [];
  const field = (name: string, value: string) => lines.push(`${name}: ${value}`, "");

  lines.push(`# ${text(plan?.name ?? "rootstock run")}`, "", "## Bootstrapping info", "");
  field("Upstream", text(plan?.upstream ?? "not stated in the plan"));
  field(
    "Bootstrapping documentation",
    text(
      plan?.documentation ??
        (plan ? `the rootstock plan ${plan.name}, in ${planFolder(report.context)}` : "unknown"),
    ),
  );
  field("Requirements", requirements(report));
  field("Automation", automation(report));
  field("Integration testing", integrationTesting(report));
  field("What you get", whatYouGet(report));
  field("Can install further software from source", canInstallFurther(report));
  lines.push(
    "Binary seeds: the host tools the plan declares (a step with a host root also sees the rest of the host's /usr)",
    "",
  );
  lines.push(...seedsTable(report.context?.seeds ?? []), "");
  if (report.toolsRun.length > 0)
    lines.push(
      "Tools rootstock ran itself: on the sources (unpacking, patching), around the steps (the sandbox), on the images and to boot them; no step's key names them (an image's key names the tools that write it)",
      "",
      ...seedsTable(report.toolsRun, "tool"),
      "",
    );
  lines.push(
    "Sources: the files the plan pins for these steps by sha256, each checked against its pin as it enters the store (a step's script, patches and files/ are the plan's own, covered by its key)",
    "",
  );
  lines.push(...sourcesTable(report), "");

  lines.push("## Automated testing", "");
  field("Version", version(report));
  field("Architecture", plan?.arch ?? "unknown");
  field("Date", new Date(report.started).toISOString().slice(0, 10));
  field("Build time", buildTime(report));
  lines.push("### Testing process", "");
  lines.push(...testingProcess(report), "");
  return `${lines.join("\n").trimEnd()}\n`;
}

function counted(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

function requirements(report: RunReport): string {
  const seeds = report.context?.seeds ?? [];
  const host = report.context?.host;
  const tools = seeds.map((seed) => `${seed.name} (${text(shortVersion(seed.version))})`).join(", ");
  const base = host ? `Linux (${text(host.os)}, kernel ${text(host.kernel)})` : "Linux";
  const sandboxes = new Set(report.context?.steps.map((step) => step.sandbox));
  const parts = [`rootstock ${report.context?.rootstock.version ?? ""}`];
  if (sandboxes.has("bwrap")) parts.push("bubblewrap");
  if (sandboxes.has("chroot")) parts.push("root (for chroot)");
  if (report.tests.length > 0 || report.accel) parts.push("QEMU");
  const listed = parts.length > 1 ? `${parts.slice(0, -1).join(", ")} and ${parts.at(-1)}` : parts[0];
  const packages = report.context?.plan.packages ?? [];
  return `${base} with ${listed}; host tools used: ${tools || "none"}${packages.length > 0 ? `; host packages: ${packages.map(text).join(", ")}` : ""}`;
}

function shortVersion(version: string): string {
  if (version === "unknown") return "version unknown, pinned by sha256";
  const match = /\d+(\.\d+)+[\w.+~-]*/.exec(version);
  return match ? match[0] : version.slice(0, 40);
}

function automation(report: RunReport): string {
  const total = report.steps.length;
  const built = report.steps.filter((step) => step.status === "built").length;
  const cached = report.steps.filter((step) => step.status === "cached").length;
  const failed = report.steps.filter((step) => step.status === "failed").length;
  const stopped = report.steps.filter((step) => step.status === "interrupted").length;
  // The plan's images, and apart from them the netboot bundles made of them.
  const planImages = report.images.filter((image) => image.kind !== "netboot bundle");
  const bundles = report.images.filter((image) => image.kind === "netboot bundle");
  const imagesFailed = planImages.filter((image) => imageOutcome(image) === "failed").length;
  // `run PLAN STEP` (or an image) covers part of the plan: what it shows is about that part only.
  const planSteps = report.context?.plan.steps;
  const partial = planSteps !== undefined && planSteps > total;
  const automated = partial ? "Fully automated as far as this run went" : "Fully automated";
  const state = report.running
    ? "Run still going on"
    : report.unfinished
      ? "Run did not finish"
      : report.interrupted
        ? `${automated}, but this run was interrupted`
        : !report.ok && (failed > 0 || imagesFailed > 0 || report.error)
          ? `${automated}, but this run failed`
          : automated;
  const steps = partial ? `${total} of the plan's ${planSteps} steps` : counted(total, "step");
  const stepOutcome = [
    `this run built ${built}`,
    `reused ${cached} from the cache`,
    failed > 0 ? `${failed} failed` : "",
    stopped > 0 ? `${stopped} interrupted` : "",
    report.error && built + cached + failed + stopped === 0 ? "it stopped before building" : "",
  ];
  const parts = [`${steps} (${stepOutcome.filter(Boolean).join(", ")})`, "0 manual"];
  // Counted apart from the steps: "3 images (reused 8)" would read as images reused.
  for (const [list, noun] of [
    [planImages, "image"],
    [bundles, "netboot bundle"],
  ] as const) {
    if (list.length === 0) continue;
    const outcomes = list.map(imageOutcome);
    const failedHere = outcomes.filter((outcome) => outcome === "failed").length;
    const counts = [
      `made ${outcomes.filter((outcome) => outcome === "made").length}`,
      `reused ${outcomes.filter((outcome) => outcome === "cached").length} from the cache`,
      failedHere > 0 ? `${failedHere} failed` : "",
    ];
    parts.push(`${counted(list.length, noun)} (${counts.filter(Boolean).join(", ")})`);
  }
  return `${state}: ${parts.join(", ")}`;
}

function integrationTesting(report: RunReport): string {
  if (report.tests.length === 0) {
    const testing = report.context?.command === "test" || report.context?.command === "demo";
    return testing && !report.ok ? "Not run: the run ended before its boot tests" : "None in this run";
  }
  const { passed, failed, skipped } = testCounts(report.tests);
  const accel = report.accel ? ` under ${report.accel.accel.toUpperCase()}` : "";
  const list = report.tests
    .map((test) => `${testOutcome(test)}: ${text(test.test)} (${text(test.image)})`)
    .join("; ");
  const soFar = report.running ? " so far" : "";
  return `${report.tests.length} boot tests in QEMU${accel}${soFar}, ${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ""} — ${list}`;
}

function testOutcome(test: RunReport["tests"][number]): string {
  return test.skipped !== undefined ? "skipped" : test.ok ? "passed" : "FAILED";
}

function whatYouGet(report: RunReport): string {
  const description = report.context?.plan.description?.replace(/\s+/g, " ");
  const described = description === undefined ? undefined : text(description.replace(/[.;]$/, ""));
  const images = report.images
    .filter((image) => ["made", "cached"].includes(imageOutcome(image)))
    .map(
      (image) =>
        `${image.name}${image.kind ? ` (${image.kind}${image.bytes ? `, ${formatBytes(image.bytes)}` : ""})` : ""}`,
    )
    .join(", ");
  const parts = [described ?? "the outputs of the plan's steps"];
  if (images) parts.push(`images: ${images}`);
  return parts.join("; ");
}

/**
 * Answered from the tests that declare they build software inside the system (a test module's
 * `evidence.buildsSoftware`); a name that merely sounds like compiling proves nothing.
 */
function canInstallFurther(report: RunReport): string {
  const evidence = report.tests.filter((test) => test.evidence?.includes("buildsSoftware"));
  if (evidence.length === 0) return "Not tested in this run";
  const failed = evidence.filter((test) => !test.ok);
  const names = (tests: typeof evidence) =>
    tests.map((test) => `"${text(test.test)}" on ${text(test.image)}`).join(", ");
  if (failed.length === 0) return `Yes, tested: ${names(evidence)} passed`;
  return `Not shown: ${names(failed)} failed`;
}

function seedsTable(seeds: RunReport["toolsRun"], noun = "seed"): string[] {
  if (seeds.length === 0) return ["None recorded."];
  return [
    `| ${noun} | path | version | sha256 |`,
    "|---|---|---|---|",
    ...seeds.map(
      (seed) =>
        `| ${seed.name} | ${text(seed.realPath === seed.path ? seed.path : `${seed.path} → ${seed.realPath}`)} | ${text(seed.version).replace(/\|/g, "\\|")} | \`${seed.sha256}\` |`,
    ),
  ];
}

function sourcesTable(report: RunReport): string[] {
  const rows = sourcesOf(report);
  if (rows.length === 0) return ["None: no step of this run has sources."];
  const cell = (value: string) => text(value).replace(/\|/g, "\\|");
  return [
    "| file | steps | sha256 | pinned from | obtained |",
    "|---|---|---|---|---|",
    ...rows.map(
      (row) =>
        `| ${cell(row.files.join(", "))} | ${cell(row.steps.join(", "))} | \`${row.sha256}\` | ${cell(row.from.join(", ") || "—")} | ${cell(obtainedText(row))} |`,
    ),
  ];
}

function version(report: RunReport): string {
  const context = report.context;
  if (!context) return "unknown";
  const where = [
    // Of the steps this run covered (`run PLAN STEP` or an image covers fewer), not of the whole plan.
    context.plan.digest ? `steps digest ${context.plan.digest}` : "",
    // Read from the repository's files: the commit checked out, not whether it holds the plan as it is.
    context.plan.revision
      ? `in a git work tree at ${context.plan.revision}, not checked that the plan is committed there as it is`
      : "",
  ]
    .filter(Boolean)
    .join(", ");
  const plan = `plan ${context.plan.name}${where ? ` (${where})` : ""}`;
  // Read from the repository's files, as the plan's: the commit checked out, not that nothing was edited.
  const tool = `rootstock ${context.rootstock.version}${context.rootstock.revision ? ` at git ${context.rootstock.revision}, not checked for local changes` : ""}`;
  return `${plan}, ${tool}`;
}

function buildTime(report: RunReport): string {
  const host = report.context?.host;
  // A stage that came whole from the cache took no time in this run: saying 0ms would read as its time.
  const stages = report.stages
    .filter((stage) => stage.name !== "")
    .map(
      (stage) =>
        `${stage.name} ${stage.built === 0 && stage.failed === 0 && stage.cached > 0 ? "from the cache" : formatDuration(stage.wallMs)}`,
    )
    .join(", ");
  const on = host ? ` on ${text(host.cpu)}, ${host.cores} cores` : "";
  const cached = report.steps.filter((step) => step.status === "cached").length;
  const built = report.steps.filter((step) => step.status === "built").length;
  const rest = report.totalMs - report.buildMs;
  // A netboot run goes on serving until it is stopped: that time is no image's. One that exported its
  // bundle (--out) served nothing.
  const serving = report.servedFrom === undefined ? 0 : Math.max(0, report.totalMs - report.servedFrom);
  const what =
    report.context?.command === "image"
      ? "images"
      : report.context?.command === "boot"
        ? "images and the boot"
        : report.context?.command === "netboot"
          ? "images and the bundle"
          : "images and boot tests";
  const after =
    report.images.length + report.tests.length > 0 && rest > 0
      ? `; ${what} took ${formatDuration(Math.max(0, rest - serving))} more${report.servedFrom === undefined ? "" : `, then it served for ${formatDuration(serving)}`}`
      : "";
  // Only a build that went through measures the bootstrap: any other figure would read as its time.
  const failed = report.steps.some((step) => step.status === "failed");
  const stoppedEarly = report.error !== undefined && report.steps.every((step) => step.status === "not-run");
  if (report.unfinished || report.interrupted || failed || stoppedEarly)
    return `not measured: the run ${report.running ? "is still going on" : report.unfinished ? "did not finish" : report.interrupted ? "was interrupted" : stoppedEarly ? "stopped before building" : "failed"}${report.buildMs > 0 ? ` (${formatDuration(report.buildMs)} of steps until then)` : ""}`;
  if (built === 0 && cached > 0)
    return `not measured in this run: all ${counted(cached, "step")} came from the cache (the report of the run that built them has the time)${after}`;
  const notes =
    cached > 0 ? `; ${cached} of ${counted(report.steps.length, "step")} came from the cache` : "";
  return `${formatDuration(report.buildMs)}${on}${stages ? `; each stage from its first step's start to its last one's end: ${stages}` : ""}${notes}${after}`;
}

function testingProcess(report: RunReport): string[] {
  const lines: string[] = [];
  const context = report.context;
  if (context) {
    // An older rootstock's journal kept no options, nor the images a command named.
    const partial =
      context.journal === undefined
        ? ", as far as the rootstock that made it recorded it: options and images named may be missing"
        : "";
    lines.push(`* Command (run ${report.runId}${partial}):`, "", ...indentedBlock(commandLine(context)), "");
    lines.push(
      `* Host: ${text(context.host.os)}, ${text(context.host.cpu)}, ${context.host.cores} cores, ${formatBytes(context.host.memoryBytes)} memory`,
    );
  }
  if (report.fetched.length > 0) {
    lines.push(
      `* Fetched ${counted(report.fetched.length, "source")}: ${report.fetched.map((item) => text(`${item.file} from ${item.from}`)).join(", ")}`,
    );
  }
  const byStage = new Map<string, StepRecord[]>();
  for (const step of report.steps) {
    const members = byStage.get(step.stage);
    if (members) members.push(step);
    else byStage.set(step.stage, [step]);
  }
  const infos = new Map(context?.steps.map((info) => [info.name, info]));
  for (const [stage, steps] of byStage) {
    const description = context?.stages.find((item) => item.name === stage)?.description;
    lines.push(`* Stage ${text(stage) || "(none)"}${description ? `: ${text(description)}` : ""}`);
    for (const step of steps) lines.push(`  * ${stepLine(step, infos.get(step.name), report.running)}`);
  }
  // Once, not on each of hundreds of lines: a cached step's tree is in the report that built it.
  if (report.steps.some((step) => step.status === "cached"))
    lines.push("* A step from the cache has its tree digest in the report of the run that built it");
  for (const { name, when } of context?.disabled ?? [])
    lines.push(`* Skipped ${name}: \`when = ${JSON.stringify(when).replaceAll("`", "'")}\` is false`);
  for (const image of report.images) {
    lines.push(
      `* Image ${image.name}${image.kind ? ` (${image.kind})` : ""}: ${imageText(image)}${image.bytes ? `, ${formatBytes(image.bytes)}` : ""}${image.sha256 ? `; sha256 \`${image.sha256}\`` : ""}${image.key ? `, key \`${image.key}\`` : ""}`,
    );
  }
  if (report.accel) lines.push(`* QEMU accelerator: ${report.accel.accel} (${report.accel.reason})`);
  for (const test of report.tests) {
    const outcome =
      test.skipped !== undefined
        ? `skipped: ${text(test.skipped)}`
        : `${test.ok ? "passed" : "FAILED"} in ${formatDuration(test.ms)}${test.error ? ` — ${text(briefError(test.error))}` : ""}${!test.ok && test.consoleLog ? ` (console log: ${text(runRelative(test.consoleLog, report))} in the run's folder)` : ""}`;
    lines.push(`* Test ${text(testTitle(test))} on ${text(test.image)}: ${outcome}`);
  }
  // Of steps that finished only: an unfinished run's would leave out the one still going.
  if (report.criticalPath.length > 1 && !report.unfinished)
    lines.push(`* Critical path: ${report.criticalPath.join(" → ")} (${formatDuration(report.criticalMs)})`);
  lines.push(
    `* Result: ${report.running ? "still running (this report is of the run so far)" : report.unfinished ? "did not finish" : report.ok ? "success" : report.interrupted ? "interrupted" : "failure"}${report.error ? `: ${text(firstLine(report.error.message))} [${report.error.code}]` : ""}`,
  );
  // The error's further lines, and the errors it gathers (a source, then each place it was tried).
  const item = (line: string, depth: number) => {
    if (line.trim() !== "") lines.push(`${"  ".repeat(depth)}* ${text(line.trim().replace(/^- /, ""))}`);
  };
  for (const line of report.error?.message.split("\n").slice(1) ?? []) item(line, 1);
  for (const detail of report.error?.details ?? []) {
    const [first = "", ...rest] = detail.split("\n");
    item(first, 1);
    for (const line of rest) item(line, 2);
  }
  if (report.error?.hint) item(`hint: ${report.error.hint}`, 1);
  return lines;
}

/** The plan's folder in full where the run knew it: "." tells a reader of the report nothing. */
function planFolder(context: RunContext | undefined): string {
  const dir = context?.plan.dir ?? "";
  return dir.startsWith("/") || context?.cwd === undefined ? dir : join(context.cwd, dir);
}

/** The command as a shell reads it back (control characters as bash's $'…' escapes, visible). */
function commandLine(context: RunContext): string {
  const set = Object.entries(context.plan.set ?? {}).flatMap(([name, value]) => [
    "--set",
    `${name}=${value}`,
  ]);
  const words = [
    "rootstock",
    context.command,
    ...(context.options ?? []),
    ...set,
    context.plan.dir,
    ...(context.targets ?? []),
  ];
  // A plan named by a relative path is found from the folder the command ran in.
  const from = context.cwd && !context.plan.dir.startsWith("/") ? ["cd", context.cwd, "&&"] : [];
  return [
    ...from.map((word) => (word === "&&" ? word : typedWord(word))),
    ...words.map((word) => (word === context.plan.dir ? pathWord(word) : typedWord(word))),
  ].join(" ");
}

/** A fenced block inside a list item; the fence is longer than any run of backticks in the text. */
function indentedBlock(text: string): string[] {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((run) => run[0].length));
  const fence = "`".repeat(longest + 1);
  return [`  ${fence}sh`, `  ${text}`, `  ${fence}`];
}

function stepLine(step: StepRecord, info: RunContext["steps"][number] | undefined, running = false): string {
  const name = `${step.name}${step.version ? ` ${text(step.version)}` : ""}`;
  const where = info
    ? info.sandbox === "host"
      ? "on the host"
      : `${info.sandbox}, ${info.root === "deps" ? "root of dependency outputs only" : "host tools read-only"}`
    : "";
  const patches =
    info && info.patches.length > 0
      ? `, ${counted(info.patches.length, "patch").replace(/patchs$/, "patches")}`
      : "";
  const attempts = step.attempts > 1 ? `, ${step.attempts} attempts` : "";
  switch (step.status) {
    case "built":
      return `${name}: built in ${formatDuration(step.ms)} (${where}${patches}${attempts})${step.key ? `; key \`${step.key}\`` : ""}${step.digest ? `, tree \`${step.digest}\`` : ""}`;
    case "cached":
      return `${name}: from the cache (key \`${step.key ?? "?"}\`)`;
    case "failed":
      return `${name}: FAILED after ${formatDuration(step.ms)}${attempts}: ${text(step.reason ?? "unknown reason")}`;
    case "interrupted":
      return `${name}: interrupted after ${formatDuration(step.ms)}`;
    case "unfinished":
      return `${name}: started (${where}${patches}${attempts}), ${running ? "still going on" : "not finished when the run ended"}${step.ms > 0 ? `, after at least ${formatDuration(step.ms)}` : ""}`;
    default:
      return running && !step.reason
        ? `${name}: not started yet`
        : `${name}: not run${step.reason ? `: ${text(step.reason)}` : ""}`;
  }
}

function firstLine(text: string): string {
  return text.split("\n")[0] ?? "";
}

/**
 * A failure in one line: its first, the few after it when it ends with a colon (a command's output),
 * and its hint. The whole text is in report.html and junit.xml.
 */
function briefError(error: string): string {
  const lines = error.split("\n");
  const hint = lines.find((line) => line.startsWith("hint: "));
  let brief = lines[0] ?? "";
  for (let index = 1; index <= 3 && brief.endsWith(":"); index++) {
    const next = lines[index]?.trim();
    if (!next || next.startsWith("hint: ") || next.startsWith("at ")) break;
    brief += ` ${next}`;
  }
  // The report shows no console lines (its console log is named beside): the hint points there.
  const shown = hint?.replace("the console lines above show", "the console log shows");
  return shown === undefined ? brief : `${brief} (${shown})`;
}

function imageText(image: ImageRecord): string {
  switch (imageOutcome(image)) {
    case "cached":
      return "from the cache";
    case "made":
      return image.msUnknown ? "made (its time was not recorded)" : `made in ${formatDuration(image.ms)}`;
    case "failed":
      return `FAILED: ${text(firstLine(image.error ?? ""))}`;
    case "interrupted":
      return "interrupted";
    default:
      return "not finished when the run ended";
  }
}
