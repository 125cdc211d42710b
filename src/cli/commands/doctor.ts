import type { Command } from "commander";
import {
  CORE_REQUIREMENTS,
  canInstall,
  checkHost,
  installCommand,
  installPackages,
  missingPackages,
  planRequirements,
  type Requirement,
  TEST_REQUIREMENTS,
} from "../../host/doctor.ts";
import type { CliContext } from "../context.ts";

export interface DoctorOptions {
  plan?: string;
  tests?: boolean;
  install?: boolean;
  quiet?: boolean;
}

/** Checks (and as root on Debian/Ubuntu, installs) the host tools; shared by `doctor` and `demo`. */
export async function runDoctor(options: DoctorOptions, context: CliContext): Promise<boolean> {
  const requirements: Requirement[] = [...CORE_REQUIREMENTS];
  if (options.tests) requirements.push(...TEST_REQUIREMENTS);
  if (options.plan) {
    // Loaded on demand: the plan loader (zod, TOML) costs startup time every command would pay.
    const { loadPlan } = await import("../../plan/load.ts");
    requirements.push(...planRequirements((await loadPlan(options.plan)).hostTools));
  }
  let findings = await checkHost(requirements);
  let missing = missingPackages(findings);
  if (missing.length > 0 && options.install && canInstall()) {
    context.out(`doctor: installing ${missing.join(" ")} with apt-get (running as root)`);
    await installPackages(missing);
    findings = await checkHost(requirements);
    missing = missingPackages(findings);
  }
  for (const finding of findings) {
    const { requirement } = finding;
    const what = requirement.command ?? requirement.files?.[0] ?? requirement.package;
    if (finding.found) {
      if (!options.quiet)
        context.out(
          `  ${context.style("green", "ok")}       ${what.padEnd(22)} ${context.style("dim", `${finding.found} — ${requirement.purpose}`)}`,
        );
    } else {
      context.out(
        `  ${context.style("red", "missing")}  ${what.padEnd(22)} ${requirement.purpose}; install: apt-get install ${requirement.package}`,
      );
    }
  }
  if (missing.length > 0) {
    context.out(`doctor: ${missing.length} package(s) missing. Install them with:`);
    context.out(`  ${installCommand(missing, canInstall())}`);
    return false;
  }
  context.out(`doctor: all ${findings.length} host requirements found`);
  return true;
}

export function registerDoctor(program: Command, context: CliContext): void {
  program
    .command("doctor")
    .description("check the host tools rootstock uses and say how to install what is missing")
    .argument("[plan]", "also check the host tools this plan declares")
    .option("--tests", "also check what the test suite uses")
    .option("--install", "install missing packages with apt-get (root only)")
    .option("--quiet", "print only what is missing")
    .action(async (plan: string | undefined, options: DoctorOptions) => {
      const ok = await runDoctor({ ...options, ...(plan === undefined ? {} : { plan }) }, context);
      if (!ok) process.exitCode = 1;
    });
}
