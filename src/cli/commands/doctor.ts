import type { Command } from "commander";
import {
  CORE_REQUIREMENTS,
  canInstall,
  checkGuessedPackages,
  checkHost,
  hostPath,
  installCommand,
  installPackages,
  missingPackages,
  planRequirements,
  providingPackages,
  type Requirement,
  TEST_REQUIREMENTS,
  updatePackageIndex,
} from "../../host/doctor.ts";
import { findOnPath } from "../../host/tools.ts";
import { enableDebSrc, hasDebSrc } from "../../sources/enable-deb-src.ts";
import { PC_ARCHES } from "../../vm/pc-arches.ts";
import type { CliContext } from "../context.ts";

export interface DoctorOptions {
  plan?: string;
  tests?: boolean;
  install?: boolean;
  quiet?: boolean;
  packages?: boolean;
}

/** Checks (and as root on Debian/Ubuntu, installs) the host tools; shared by `doctor` and `demo`. */
export async function runDoctor(options: DoctorOptions, context: CliContext): Promise<boolean> {
  const requirements: Requirement[] = [...CORE_REQUIREMENTS];
  /** Tools that a bwrap or chroot step with the host's root runs: they must be where it sees them. */
  let sandboxedTools = new Set<string>();
  if (options.tests) requirements.push(...TEST_REQUIREMENTS);
  if (options.plan) {
    // Loaded on demand: the plan loader (zod, TOML) costs startup time every command would pay.
    const { loadPlan } = await import("../../plan/load.ts");
    const plan = await loadPlan(options.plan);
    // A tool rootstock needs itself (tar, xz, …) is listed, and counted, once.
    const own = new Set(requirements.map((requirement) => requirement.command));
    const tools = [...plan.hostTools, ...[...plan.steps.values()].flatMap((step) => step.tools)].filter(
      (tool) => !own.has(tool),
    );
    requirements.push(...planRequirements(tools, plan.hostPackages));
    await checkGuessedPackages(requirements);
    sandboxedTools = new Set(
      [...plan.steps.values()]
        .filter((step) => step.sandbox !== "host" && step.root === "host")
        .flatMap((step) => step.tools),
    );
    // QEMU here is an x86 PC: a plan of another arch is built, and its images made, but not booted.
    if (!PC_ARCHES.includes(plan.arch))
      context.out(
        `  ${context.style("yellow", "note")}     plan ${options.plan} is for ${plan.arch}: rootstock builds it and makes its images, but boots only x86 machines (qemu-system-x86_64), so test, boot and demo refuse it`,
      );
  }
  let findings = await checkHost(requirements);
  if (options.packages) {
    // For `apt-get download $(rootstock doctor PLAN --packages)`: the names alone, one a line.
    const { packages, unprovided } = await providingPackages(findings);
    for (const name of packages) context.out(name);
    // What no package provides cannot be listed: said on stderr, so the list is not taken as whole.
    for (const { requirement, found } of unprovided)
      context.err(
        `doctor: ${requirement.command ?? requirement.declared ?? "?"} ${found ? `(${found}) belongs to no Debian package${requirement.package && !requirement.guessed ? `: ${requirement.package} gives another file of that name, under other keys` : ": the list lacks it"}` : "is missing here, and no known package provides it: the list lacks it"} (\`apt-file search bin/NAME\` finds a command's package)`,
      );
    return unprovided.length === 0;
  }
  let missing = missingPackages(findings);
  // Installed by apt just now and still missing: a file removed or hidden by hand, which only a
  // reinstall puts back (installing an installed package does nothing).
  let installedYetMissing = false;
  if (missing.length > 0 && options.install && canInstall()) {
    context.out(`doctor: installing ${missing.join(" ")} with apt-get (running as root)`);
    await installPackages(missing);
    findings = await checkHost(requirements);
    missing = missingPackages(findings);
    installedYetMissing = missing.length > 0;
  }
  const unknownTools: string[] = [];
  const unknownPackages: string[] = [];
  // Found, yet where a sandboxed step does not see it: it would fail there with "not found".
  const { outOfSandbox } = await import("../../host/sandbox-reach.ts");
  const outsideOf = new Map<(typeof findings)[number], string>();
  for (const finding of findings) {
    const { requirement, found } = finding;
    if (requirement.group !== "plan" || !found || !sandboxedTools.has(requirement.command ?? "")) continue;
    const outside = outOfSandbox(found);
    if (outside !== undefined) outsideOf.set(finding, outside);
  }
  for (const finding of findings) {
    const { requirement } = finding;
    const what =
      requirement.command ??
      // A file by its name: the path found (or looked for) follows.
      requirement.files?.[0]?.split("/").at(-1) ??
      requirement.package ??
      requirement.declared ??
      "?";
    const outside = outsideOf.get(finding);
    if (finding.found && outside !== undefined) {
      context.out(
        `  ${context.style("red", "outside")}  ${what.padEnd(22)} ${finding.found} — ${requirement.purpose}; a sandboxed step does not see it (through ${outside})`,
      );
    } else if (finding.found) {
      if (!options.quiet)
        context.out(
          `  ${context.style("green", "ok")}       ${what.padEnd(22)} ${context.style("dim", `${finding.found} — ${requirement.purpose}`)}`,
        );
    } else if (requirement.package === undefined) {
      (requirement.declared === undefined ? unknownTools : unknownPackages).push(what);
      context.out(
        `  ${context.style("red", "missing")}  ${what.padEnd(22)} ${requirement.purpose}; ${
          requirement.declared === undefined
            ? "no Debian package of that name: install it by hand, or name the package that has it in the plan's [host] packages"
            : "apt knows no package of that name: check the name in the plan's [host] packages"
        }`,
      );
    } else {
      context.out(
        `  ${context.style("red", "missing")}  ${what.padEnd(22)} ${requirement.purpose}; ${installedYetMissing ? `apt-get installed ${requirement.package}, yet it is not there: reinstall it` : `install: apt-get install ${requirement.package}`}`,
      );
    }
  }
  const debSrc = await checkDebSrc(options, context);
  if (unknownTools.length > 0)
    context.out(
      `doctor: ${unknownTools.length} missing that no known package provides: ${unknownTools.join(", ")} (\`apt-file search bin/NAME\` finds a command's package, once \`apt-get install apt-file && apt-file update\` has run)`,
    );
  if (unknownPackages.length > 0)
    context.out(
      `doctor: ${unknownPackages.length} declared package(s) that apt does not know: ${unknownPackages.join(", ")} (\`apt-cache search NAME\` finds the right name)`,
    );
  const unknown = [...unknownTools, ...unknownPackages];
  const unreachable = [...outsideOf].map(
    ([{ requirement, found }, outside]) => `${requirement.command} (${found}, through ${outside})`,
  );
  if (unreachable.length > 0)
    context.out(
      `doctor: ${unreachable.length} found where a sandboxed step does not see it (only the host's /usr, /bin, /sbin and /lib): ${unreachable.join(", ")}; install it under /usr, or build its steps with sandbox = "host"`,
    );
  if (missing.length > 0 && installedYetMissing) {
    context.out(
      `doctor: ${missing.length} package(s) installed, yet what they provide is missing (removed by hand?). Reinstall them with:`,
    );
    context.out(`  apt-get install --reinstall -y ${missing.join(" ")}`);
    return false;
  }
  if (missing.length > 0) {
    // Asked to install, but only root may: said, not silently skipped.
    if (options.install && !canInstall()) context.out("doctor: --install needs root; nothing was installed");
    context.out(`doctor: ${missing.length} package(s) missing. Install them with:`);
    context.out(`  ${installCommand(missing, canInstall())}`);
    return false;
  }
  if (unknown.length > 0 || unreachable.length > 0) return false;
  // deb-src entries count when there: only Debian source providers need them, so their lack is a warning.
  context.out(`doctor: all ${findings.length + (debSrc ? 1 : 0)} host requirements found`);
  return true;
}

/**
 * The Debian source provider needs deb-src entries; as root with --install, derive them from the deb ones.
 * Says whether they are there (undefined: no apt on this host, nothing to check).
 */
async function checkDebSrc(options: DoctorOptions, context: CliContext): Promise<boolean | undefined> {
  if (!(await findOnPath("apt-get", hostPath()))) return undefined;
  const what = "deb-src".padEnd(22);
  if (await hasDebSrc()) {
    if (!options.quiet)
      context.out(
        `  ${context.style("green", "ok")}       ${what} ${context.style("dim", "apt source indexes, for Debian source providers")}`,
      );
    return true;
  }
  if (options.install && canInstall()) {
    const { changed } = await enableDebSrc();
    if (changed.length === 0) {
      context.out("doctor: no deb entries in the apt sources to derive deb-src entries from");
      return false;
    }
    context.out(
      `doctor: enabled deb-src entries in ${changed.map((item) => item.file).join(", ")} for Debian source providers; running apt-get update`,
    );
    await updatePackageIndex();
    return true;
  }
  context.out(
    `  ${context.style("yellow", "missing")}  ${what} Debian source providers need it; \`rootstock doctor --install\` as root adds deb-src entries`,
  );
  return false;
}

export function registerDoctor(program: Command, context: CliContext): void {
  program
    .command("doctor")
    .description("check the host tools rootstock uses and say how to install what is missing")
    .argument("[plan]", "also check the host tools this plan declares")
    .option("--tests", "also check what the test suite uses")
    .option("--install", "install missing packages with apt-get (root only)")
    .option("--quiet", "print only what is missing")
    .option(
      "--packages",
      "print only the Debian packages that provide them, one a line (for apt-get download)",
    )
    .action(async (plan: string | undefined, options: DoctorOptions) => {
      const ok = await runDoctor({ ...options, ...(plan === undefined ? {} : { plan }) }, context);
      if (!ok) process.exitCode = 1;
    });
}
