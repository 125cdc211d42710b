/**
 * Small real plans for integration tests: written to a temporary folder, with tarballs made by GNU tar,
 * and a store of their own. Everything a test creates lives under one folder it removes at the end.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { openPlan } from "../../src/plan/open.ts";
import type { Value } from "../../src/plan/predicate.ts";
import { SourceStore } from "../../src/sources/source-store.ts";
import { removeTree } from "../../src/store/remove-tree.ts";

export interface StepFixture {
  /** step.toml, verbatim. */
  toml?: string;
  /** build.sh, verbatim. */
  script?: string;
  files?: Record<string, string>;
  patches?: Record<string, string>;
}

export interface PlanFixture {
  name?: string;
  /** Extra plan.toml text (variables, host tools, defaults). */
  toml?: string;
  /** Stages in order, each a list of step names; default one stage with every step. */
  stages?: string[][];
  steps: Record<string, StepFixture>;
}

export interface Workbench {
  dir: string;
  storeDir: string;
  remove(): Promise<void>;
}

export async function workbench(prefix = "rootstock-test-"): Promise<Workbench> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  // World-readable, so that a test may run rootstock as an unprivileged user in it.
  await chmod(dir, 0o755);
  const storeDir = join(dir, "store");
  // rootstock's own removal: a kept build folder may be deeper than PATH_MAX (and shut with chmod 000).
  return { dir, storeDir, remove: () => removeTree(dir) };
}

export async function writePlan(dir: string, fixture: PlanFixture): Promise<string> {
  await rm(dir, { recursive: true, force: true });
  const names = Object.keys(fixture.steps);
  const stages = fixture.stages ?? [names];
  const stageToml = stages
    .map((steps, index) => `[[stages]]\nname = "s${index + 1}"\nsteps = ${JSON.stringify(steps)}\n`)
    .join("\n");
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, "plan.toml"),
    `name = "${fixture.name ?? "test"}"\narch = "x86_64"\n${fixture.toml ?? '[host]\ntools = ["sh", "gcc", "make"]\n'}\n${stageToml}`,
  );
  for (const [name, step] of Object.entries(fixture.steps)) {
    const stepDir = join(dir, "steps", name);
    await mkdir(stepDir, { recursive: true });
    await writeFile(join(stepDir, "step.toml"), step.toml ?? 'version = "1"\n');
    if (step.script !== undefined) await writeFile(join(stepDir, "build.sh"), step.script);
    for (const [path, text] of Object.entries(step.files ?? {})) {
      await mkdir(dirname(join(stepDir, "files", path)), { recursive: true });
      await writeFile(join(stepDir, "files", path), text);
    }
    for (const [path, text] of Object.entries(step.patches ?? {})) {
      await mkdir(join(stepDir, "patches"), { recursive: true });
      await writeFile(join(stepDir, "patches", path), text);
    }
  }
  return dir;
}

export interface Tarball {
  path: string;
  file: string;
  sha256: string;
  size: number;
}

/** A .tar.gz of `files`, under a top folder when `top` is given (as most releases are). */
export async function makeTarball(
  dir: string,
  file: string,
  files: Record<string, string>,
  options: { top?: string } = {},
): Promise<Tarball> {
  const content = join(dir, `${file}.content`);
  await rm(content, { recursive: true, force: true });
  const base = options.top === undefined ? content : join(content, options.top);
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(base, path)), { recursive: true });
    await writeFile(join(base, path), text);
    if (path.endsWith(".sh") || path === "configure") await chmod(join(base, path), 0o755);
  }
  const path = join(dir, file);
  execFileSync("tar", [
    "-czf",
    path,
    "--sort=name",
    "--mtime=@0",
    "--owner=0",
    "--group=0",
    "-C",
    content,
    ".",
  ]);
  const bytes = await readFile(path);
  return { path, file, sha256: createHash("sha256").update(bytes).digest("hex"), size: bytes.length };
}

/** The TOML of a source pinned to a tarball. */
export function sourceToml(tarball: Tarball, extra = ""): string {
  return `[[sources]]\nurl = "https://example.invalid/${tarball.file}"\nsha256 = "${tarball.sha256}"\n${extra}`;
}

export async function admit(storeDir: string, tarball: Tarball): Promise<void> {
  await new SourceStore(storeDir).admit(tarball.path, { expected: { sha256: tarball.sha256 } });
}

export async function resolve(
  planDir: string,
  options: { variables?: Record<string, Value>; targets?: string[] } = {},
) {
  return (await openPlan(planDir, options)).graph;
}

/** Processes whose command line mentions `marker` (left behind by a sandbox that should be gone). */
export function processesMentioning(marker: string): string[] {
  const out = execFileSync("ps", ["-eo", "pid=,args="], { encoding: "utf8" });
  return out.split("\n").filter((line) => line.includes(marker) && !line.includes("ps -eo"));
}
