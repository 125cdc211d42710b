/**
 * report.md: an entry in the format of the public bootstrappable-distros list, filled in from what the
 * run did, plus what the list lacks: the binary seeds the bootstrap trusted.
 */

import type { RunContext } from "../events.ts";
import { formatBytes, formatDuration } from "../units.ts";
import { type ImageRecord, imageOutcome, type RunReport, type StepRecord } from "./model.ts";

export function renderMarkdown(report: RunReport): string {
  const context = report.context;
  const plan = context?.plan;
  const lines: string[] = [];
  const field = (name: string, value: string) => lines.push(`${name}: ${value}`, "");

  lines.push(`# ${plan?.name ?? "rootstock run"}`, "", "## Bootstrapping info", "");
  field("Upstream", plan?.upstream ?? "not stated in the plan");
  field(
    "Bootstrapping documentation",
    plan?.documentation ?? (plan ? `the rootstock plan in ${plan.dir}` : "unknown"),
  );
  field("Requirements", requirements(report));
  field("Automation", automation(report));
  field("Integration testing", integrationTesting(report));
  field("What you get", whatYouGet(report));
  field("Can install further software from source", canInstallFurther(report));
  lines.push("Binary seeds: every binary this bootstrap trusted", "");
  lines.push(...seedsTable(report), "");

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
  const tools = seeds.map((seed) => `${seed.name} (${shortVersion(seed.version)})`).join(", ");
  const base = host ? `Linux (${host.os}, kernel ${host.kernel})` : "Linux";
  return `${base} with rootstock ${report.context?.rootstock.version ?? ""}, bubblewrap and QEMU; host tools used: ${tools || "none"}`;
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
  const images = report.images.length;
  const state = report.unfinished
    ? "Run did not finish"
    : failed > 0
      ? "Fully automated, but this run failed"
      : "Fully automated";
  const parts = [counted(total, "step"), "0 manual"];
  if (images > 0) parts.push(counted(images, "image"));
  return `${state}: ${parts.join(", ")} (this run built ${built}, reused ${cached} from the cache${failed > 0 ? `, ${failed} failed` : ""})`;
}

function integrationTesting(report: RunReport): string {
  if (report.tests.length === 0) return "None in this run";
  const passed = report.tests.filter((test) => test.ok).length;
  const accel = report.accel ? ` under ${report.accel.accel.toUpperCase()}` : "";
  const list = report.tests
    .map((test) => `${test.ok ? "passed" : "FAILED"}: ${test.test} (${test.image})`)
    .join("; ");
  return `${report.tests.length} boot tests in QEMU${accel}, ${passed} passed, ${report.tests.length - passed} failed — ${list}`;
}

function whatYouGet(report: RunReport): string {
  const description = report.context?.plan.description?.replace(/\s+/g, " ");
  const images = report.images
    .map(
      (image) =>
        `${image.name}${image.kind ? ` (${image.kind}${image.bytes ? `, ${formatBytes(image.bytes)}` : ""})` : ""}`,
    )
    .join(", ");
  const parts = [description ?? "the outputs of the plan's steps"];
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
  const names = (tests: typeof evidence) => tests.map((test) => `"${test.test}"`).join(", ");
  if (failed.length === 0) return `Yes, tested: ${names(evidence)} passed`;
  return `Not shown: ${names(failed)} failed`;
}

function seedsTable(report: RunReport): string[] {
  const seeds = report.context?.seeds ?? [];
  if (seeds.length === 0) return ["None recorded."];
  return [
    "| seed | path | version | sha256 |",
    "|---|---|---|---|",
    ...seeds.map(
      (seed) =>
        `| ${seed.name} | ${seed.realPath === seed.path ? seed.path : `${seed.path} → ${seed.realPath}`} | ${seed.version.replace(/\|/g, "\\|")} | \`${seed.sha256}\` |`,
    ),
  ];
}

function version(report: RunReport): string {
  const context = report.context;
  if (!context) return "unknown";
  const where = [
    context.plan.digest ? `digest ${context.plan.digest}` : "",
    context.plan.revision ? `git ${context.plan.revision}` : "",
  ]
    .filter(Boolean)
    .join(", ");
  const plan = `plan ${context.plan.name}${where ? ` (${where})` : ""}`;
  const tool = `rootstock ${context.rootstock.version}${context.rootstock.revision ? ` at git ${context.rootstock.revision}` : ""}`;
  return `${plan}, ${tool}`;
}

function buildTime(report: RunReport): string {
  const host = report.context?.host;
  const stages = report.stages
    .filter((stage) => stage.name !== "")
    .map((stage) => `${stage.name} ${formatDuration(stage.stepMs)}`)
    .join(", ");
  const on = host ? ` on ${host.cpu}, ${host.cores} cores` : "";
  const cached = report.steps.filter((step) => step.status === "cached").length;
  const notes = [];
  if (cached > 0) notes.push(`${cached} of ${counted(report.steps.length, "step")} came from the cache`);
  const rest = report.totalMs - report.buildMs;
  if (report.images.length + report.tests.length > 0 && rest > 0)
    notes.push(`images and boot tests took ${formatDuration(rest)} more`);
  return `${formatDuration(report.buildMs)}${on}${stages ? `; time of the steps by stage: ${stages}` : ""}${notes.length > 0 ? `; ${notes.join("; ")}` : ""}`;
}

function testingProcess(report: RunReport): string[] {
  const lines: string[] = [];
  const context = report.context;
  if (context) {
    lines.push(`* \`rootstock ${context.command} ${context.plan.dir}\` (run ${report.runId})`);
    lines.push(
      `* Host: ${context.host.os}, ${context.host.cpu}, ${context.host.cores} cores, ${formatBytes(context.host.memoryBytes)} memory`,
    );
  }
  if (report.fetched.length > 0) {
    lines.push(
      `* Fetched ${counted(report.fetched.length, "source")}: ${report.fetched.map((item) => `${item.file} from ${item.from}`).join(", ")}`,
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
    lines.push(`* Stage ${stage || "(none)"}${description ? `: ${description}` : ""}`);
    for (const step of steps) lines.push(`  * ${stepLine(step, infos.get(step.name))}`);
  }
  for (const { name, when } of context?.disabled ?? [])
    lines.push(`* Skipped ${name}: \`when = ${JSON.stringify(when)}\` is false`);
  for (const image of report.images) {
    lines.push(
      `* Image ${image.name}${image.kind ? ` (${image.kind})` : ""}: ${imageText(image)}${image.bytes ? `, ${formatBytes(image.bytes)}` : ""}`,
    );
  }
  if (report.accel) lines.push(`* QEMU accelerator: ${report.accel.accel} (${report.accel.reason})`);
  for (const test of report.tests) {
    lines.push(
      `* Test ${test.test} on ${test.image}: ${test.ok ? "passed" : "FAILED"} in ${formatDuration(test.ms)}${test.error ? ` — ${firstLine(test.error)}` : ""}`,
    );
  }
  if (report.criticalPath.length > 1)
    lines.push(`* Critical path: ${report.criticalPath.join(" → ")} (${formatDuration(report.criticalMs)})`);
  lines.push(`* Result: ${report.unfinished ? "did not finish" : report.ok ? "success" : "failure"}`);
  return lines;
}

function stepLine(step: StepRecord, info: RunContext["steps"][number] | undefined): string {
  const name = `${step.name}${step.version ? ` ${step.version}` : ""}`;
  const where = info
    ? info.sandbox === "host"
      ? "on the host"
      : `${info.sandbox}, ${info.root === "deps" ? "root of dependency outputs only" : "host tools read-only"}`
    : "";
  const patches = info && info.patches.length > 0 ? `, ${info.patches.length} patches` : "";
  const attempts = step.attempts > 1 ? `, ${step.attempts} attempts` : "";
  switch (step.status) {
    case "built":
      return `${name}: built in ${formatDuration(step.ms)} (${where}${patches}${attempts})`;
    case "cached":
      return `${name}: from the cache (key ${step.key?.slice(0, 16) ?? "?"})`;
    case "failed":
      return `${name}: FAILED after ${formatDuration(step.ms)}${attempts}: ${step.reason ?? "unknown reason"}`;
    case "unfinished":
      return `${name}: started (${where}${patches}${attempts}), not finished when the run ended`;
    default:
      return `${name}: not run`;
  }
}

function firstLine(text: string): string {
  return text.split("\n")[0] ?? "";
}

function imageText(image: ImageRecord): string {
  switch (imageOutcome(image)) {
    case "cached":
      return "from the cache";
    case "made":
      return `made in ${formatDuration(image.ms)}`;
    case "failed":
      return `FAILED: ${firstLine(image.error ?? "")}`;
    default:
      return "not finished when the run ended";
  }
}
