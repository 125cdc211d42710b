/**
 * A step's work folder, made ready to run: sources linked in and unpacked, patches applied, files and the
 * script copied (each checked against the hash its key was computed from), the root composed, and the
 * sandbox described. Layout, on the store's filesystem so that the output is renamed, never copied:
 *
 *   work/RUN/STEP/build   /build   (sources/, files/, src/ …)
 *                 out     /out
 *                 tmp     /tmp
 *                 meta    /.rootstock   (phases.sh, run.sh, the step's script, patches, etc/)
 *                 root    the root composed of dependency outputs (root = "deps")
 *                 sandbox.json          what `rootstock shell` needs to enter the same sandbox
 */
import { createSha256 } from "../digest.ts";
import { RootstockError } from "../errors.ts";
import { STEP_PATH } from "../host/tools.ts";
import { depVariable } from "../plan/dep-variable.ts";
import type { Graph, ResolvedStep } from "../plan/graph.ts";
import { mountSuggestion } from "../plan/mount-points.ts";
import type { PlanFileEntry } from "../plan/types.ts";
import type { SourceStore } from "../sources/source-store.ts";
import { outputPath } from "../store/output-store.ts";
import { composeRoot } from "./compose-root.ts";
import { phaseRunner, phasesDefinitions } from "./phase-script.ts";
import {
  type Bind,
  HOST_ETC_FILES,
  hostRootEntries,
  RESERVED_ROOT_NAMES,
  type RootEntry,
  type SandboxSpec,
} from "./sandbox.ts";
import { runLogged, unpackArchive } from "./unpack-archive.ts";

const { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync, writeSync } =
  process.getBuiltinModule("node:fs");
const { lstat, mkdir, open, readdir, readlink, rm, stat } = process.getBuiltinModule("node:fs/promises");
const { dirname, join, resolve } = process.getBuiltinModule("node:path");

export interface Workspace {
  dir: string;
  outDir: string;
  spec: SandboxSpec;
  /** The command that runs the phases, as the sandbox sees it. */
  command: string[];
  /** Sourcing this defines the default and the step's phases (for `rootstock shell`). */
  definitions: string;
}

/** What `rootstock shell` reads back from `sandbox.json`. */
export interface SavedSandbox {
  /** The store as it was then: a store moved since has its paths moved with it. */
  storeDir?: string;
  plan: string;
  step: string;
  key: string;
  runId: string;
  spec: SandboxSpec;
  definitions: string;
}

export interface WorkspaceOptions {
  graph: Graph;
  storeDir: string;
  sources: SourceStore;
  runId: string;
  /** Parallel jobs the step may use ($JOBS). */
  jobs: number;
  /** Where unpacking and patching write what they print. */
  logFd: number;
  signal?: AbortSignal;
}

interface Paths {
  build: string;
  out: string;
  tmp: string;
  meta: string;
  dep: (name: string) => string;
}

export async function prepareWorkspace(
  step: ResolvedStep,
  dir: string,
  options: WorkspaceOptions,
): Promise<Workspace> {
  const { graph, storeDir, signal } = options;
  const planStepDir = join(graph.plan.dir, step.step.dir);
  const host = {
    build: join(dir, "build"),
    out: join(dir, "out"),
    tmp: join(dir, "tmp"),
    meta: join(dir, "meta"),
  };
  // A retry's folder goes first; a first attempt's is not there, and asking the thread pool costs time.
  if (existsSync(dir)) await rm(dir, { recursive: true, force: true });
  // Synchronous calls for the many tiny operations below: each async one costs a thread-pool round trip.
  for (const folder of Object.values(host)) mkdirSync(folder, { recursive: true });
  // The output folder's mode becomes the mode of the entry's root: a root filesystem's / is 0755.
  chmodSync(host.out, 0o755);

  const sandboxed = step.step.sandbox !== "host";
  const inside: Paths = sandboxed
    ? { build: "/build", out: "/out", tmp: "/tmp", meta: "/.rootstock", dep: (name) => `/deps/${name}` }
    : {
        ...host,
        dep: (name) => outputPath(storeDir, (graph.byName.get(name) as ResolvedStep).key),
      };

  // Sources, as fetched, then unpacked.
  const sourcesDir = join(host.build, "sources");
  mkdirSync(sourcesDir);
  for (const source of step.step.sources) {
    await options.sources.materialize(source.sha256, join(sourcesDir, source.file), { copy: !sandboxed });
  }
  let srcFolder: string | undefined;
  for (const source of step.step.sources) {
    if (!source.extract || source.into === undefined) continue;
    signal?.throwIfAborted();
    srcFolder ??= source.into;
    log(options.logFd, `==> rootstock: unpacking ${source.file}`);
    await unpackArchive(join(sourcesDir, source.file), join(host.build, source.into), {
      logFd: options.logFd,
      ...(signal ? { signal } : {}),
    });
  }

  // The step's files, script and patches: copied, and checked against the key's hashes.
  const filesDir = join(host.build, "files");
  mkdirSync(filesDir);
  for (const entry of step.step.files) {
    await copyPlanFile(join(planStepDir, "files"), entry, filesDir, step, { keepLinksInside: true });
  }
  let scriptPath: string | undefined;
  if (step.step.script) {
    await copyPlanFile(planStepDir, { ...step.step.script, path: step.step.script.path }, host.meta, step);
    scriptPath = `${inside.meta}/${step.step.script.path}`;
  }
  const srcHost = srcFolder === undefined ? host.build : join(host.build, srcFolder);
  if (step.step.patches.length > 0) {
    const patchesDir = join(host.meta, "patches");
    for (const patch of step.step.patches) {
      await copyPlanFile(join(planStepDir, "patches"), patch, patchesDir, step);
      log(options.logFd, `==> rootstock: applying patches/${patch.path}`);
      const code = await runLogged(
        "patch",
        // --forward: a patch that looks applied already is refused, not quietly reversed (--batch alone
        // undoes it, as when upstream has merged the fix).
        ["-p1", "--forward", "--batch", "--no-backup-if-mismatch", "-i", join(patchesDir, patch.path)],
        {
          cwd: srcHost,
          logFd: options.logFd,
          signal,
        },
      );
      if (code !== 0) {
        throw new RootstockError(
          "ERR_BUILD_PATCH_FAILED",
          `step "${step.name}": patches/${patch.path} does not apply to ${srcFolder ?? "the build folder"}`,
          {
            file: join(graph.plan.displayDir, step.step.dir, "patches", patch.path),
            hint: 'the log shows patch\'s complaints ("Reversed (or previously applied) patch detected": this version has it already, so drop it); otherwise refresh the patch against this source version',
          },
        );
      }
    }
  }
  const definitions = `${inside.meta}/phases.sh`;
  writeFileSync(join(host.meta, "phases.sh"), phasesDefinitions(scriptPath));
  writeFileSync(join(host.meta, "run.sh"), phaseRunner(definitions));

  // The root.
  let root: RootEntry[] = [];
  const binds: Bind[] = [];
  if (step.step.root === "deps") {
    const rootDir = join(dir, "root");
    const layers = step.step.deps.map((name) =>
      outputPath(storeDir, (graph.byName.get(name) as ResolvedStep).key),
    );
    await composeRoot(rootDir, layers, signal ? { signal } : {});
    const startsWith = await pathsTheShellNeeds(rootDir);
    for (const mount of step.step.mounts) {
      const refuse = (where: string, hint: string) =>
        new RootstockError(
          "ERR_BUILD_MOUNT_POINT",
          `step "${step.name}" mounts "${mount.step}" at ${mount.at}, ${where}`,
          { file: join(graph.plan.displayDir, step.step.dir, "step.toml"), field: "mounts", hint },
        );
      const hidden = startsWith.find((path) => path.startsWith(`${mount.at}/`));
      if (hidden !== undefined)
        throw refuse(
          `which would hide ${hidden === "/bin/sh" ? "/bin/sh" : `${hidden}, which /bin/sh needs,`} in the root its deps make: the script could not start`,
          `choose a path the root does not use, such as ${mountSuggestion(mount.step)}`,
        );
      const top = mount.at.split("/")[1] as string;
      if (RESERVED_ROOT_NAMES.has(top)) continue;
      // The mount point is made in the composed root: every folder on the way must be a real folder of it
      // (a link could lead out of the root, a file cannot hold one).
      let path = rootDir;
      for (const part of mount.at.split("/").slice(1)) {
        path = join(path, part);
        const there = await lstat(path).catch(() => undefined);
        if (there === undefined) break;
        if (!there.isDirectory())
          throw refuse(
            `where the root its deps make has ${there.isSymbolicLink() ? "a link" : "a file"} at ${path.slice(rootDir.length)}, not a folder`,
            `choose a path that is a folder in the deps' outputs, or one they do not have, such as ${mountSuggestion(mount.step)}`,
          );
      }
      await mkdir(join(rootDir, mount.at), { recursive: true });
    }
    if (!(await lstat(join(rootDir, "bin", "sh")).catch(() => undefined))) {
      throw new RootstockError(
        "ERR_BUILD_NO_SHELL",
        `step "${step.name}" has root = "deps", but none of its deps (${step.step.deps.join(", ") || "none"}) provides /bin/sh to run its script`,
        {
          file: join(graph.plan.displayDir, step.step.dir, "step.toml"),
          field: "deps",
          hint: 'add a dependency whose output has bin/sh (a seed busybox, say), or use root = "host"',
        },
      );
    }
    root = await rootEntriesOf(rootDir);
  } else if (sandboxed) {
    root = hostRootEntries();
    const etc = join(host.meta, "etc");
    mkdirSync(etc);
    writeFileSync(
      join(etc, "passwd"),
      "root:x:0:0:root:/build:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    );
    writeFileSync(join(etc, "group"), "root:x:0:\nnogroup:x:65534:\n");
    binds.push(
      { from: join(etc, "passwd"), to: "/etc/passwd" },
      { from: join(etc, "group"), to: "/etc/group" },
    );
    for (const name of HOST_ETC_FILES) {
      const path = join("/etc", name);
      if (existsSync(path)) binds.push({ from: path, to: path });
    }
    for (const mount of step.step.mounts) {
      const top = mount.at.split("/")[1] as string;
      const there = root.some((entry) => entry.name === top)
        ? await stat(mount.at).catch(() => undefined)
        : null;
      if (there !== null && !there?.isDirectory()) {
        throw new RootstockError(
          "ERR_BUILD_MOUNT_POINT",
          `step "${step.name}" mounts "${mount.step}" at ${mount.at}, inside the host's read-only /${top}, where ${there ? "that path is a file, not a folder" : "no such folder exists"}`,
          {
            file: join(graph.plan.displayDir, step.step.dir, "step.toml"),
            field: "mounts",
            hint: `choose a path outside the host's /${top}, such as ${mountSuggestion(mount.step)}`,
          },
        );
      }
    }
  }
  binds.push(
    { from: host.build, to: "/build", writable: true },
    { from: sourcesDir, to: "/build/sources" },
    { from: filesDir, to: "/build/files" },
    { from: host.out, to: "/out", writable: true },
    { from: host.tmp, to: "/tmp", writable: true },
    { from: host.meta, to: "/.rootstock" },
  );
  for (const dep of step.step.deps) {
    binds.push({
      from: outputPath(storeDir, (graph.byName.get(dep) as ResolvedStep).key),
      to: `/deps/${dep}`,
    });
  }
  for (const mount of step.step.mounts) {
    binds.push({
      from: outputPath(storeDir, (graph.byName.get(mount.step) as ResolvedStep).key),
      to: mount.at,
    });
  }

  const src = srcFolder === undefined ? inside.build : `${inside.build}/${srcFolder}`;
  const env: Record<string, string> = {
    PATH: STEP_PATH,
    LC_ALL: "C",
    SOURCE_DATE_EPOCH: "0",
    PREFIX: "/usr",
    ...step.env,
    HOME: inside.build,
    TMPDIR: inside.tmp,
    JOBS: String(options.jobs),
    BUILD: inside.build,
    SRC: src,
    SOURCES: `${inside.build}/sources`,
    FILES: `${inside.build}/files`,
    OUT: inside.out,
    ROOTSTOCK_STEP: step.name,
    ROOTSTOCK_ARCH: graph.plan.arch,
  };
  for (const dep of step.step.deps) env[depVariable(dep)] = inside.dep(dep);

  const spec: SandboxSpec = {
    kind: step.step.sandbox,
    root,
    binds: sandboxed ? binds : [],
    env,
    cwd: src,
    ...(step.step.sandbox === "chroot" ? { chrootDir: join(dir, "chroot") } : {}),
    // A host step sees the store at its real path: its entries and sources are read-only to it.
    ...(sandboxed ? {} : { protect: storeFoldersToProtect(storeDir) }),
  };
  const saved: SavedSandbox = {
    storeDir,
    plan: graph.plan.name,
    step: step.name,
    key: step.key,
    runId: options.runId,
    spec,
    definitions,
  };
  writeFileSync(join(dir, "sandbox.json"), `${JSON.stringify(saved, null, 2)}\n`);
  return { dir, outDir: host.out, spec, command: ["/bin/sh", `${inside.meta}/run.sh`], definitions };
}

/**
 * Made if missing: a work folder may be prepared before the store's first entry is committed, and a
 * folder that did not exist when the sandbox was described would not be protected once it did.
 */
function storeFoldersToProtect(storeDir: string): string[] {
  const folders = [join(storeDir, "outputs"), join(storeDir, "sources")];
  for (const folder of folders) mkdirSync(folder, { recursive: true });
  return folders;
}

async function rootEntriesOf(rootDir: string): Promise<RootEntry[]> {
  const entries: RootEntry[] = [];
  for (const entry of await readdir(rootDir, { withFileTypes: true })) {
    const path = join(rootDir, entry.name);
    if (entry.isSymbolicLink()) {
      entries.push({ name: entry.name, symlink: await readlink(path) });
    } else entries.push({ name: entry.name, from: path });
  }
  return entries;
}

/**
 * A link stays a link only where its target is copied beside it (within files/); any other link, to
 * elsewhere in the plan, would dangle in the sandbox, so its target's bytes are copied in its place.
 */
async function copyPlanFile(
  baseDir: string,
  entry: PlanFileEntry,
  targetDir: string,
  step: ResolvedStep,
  { keepLinksInside = false } = {},
): Promise<void> {
  const target = join(targetDir, entry.path);
  mkdirSync(dirname(target), { recursive: true });
  const source = join(baseDir, entry.path);
  if (
    entry.symlink !== undefined &&
    keepLinksInside &&
    resolve(dirname(source), entry.symlink).startsWith(`${baseDir}/`)
  ) {
    symlinkSync(entry.symlink, target);
    return;
  }
  let content: Buffer | undefined;
  try {
    content = readFileSync(source);
  } catch (error) {
    // Gone is changed; any other refusal (no file descriptor left, EMFILE) is told as itself.
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "ENOENT" && code !== "ENOTDIR" && code !== "EISDIR") throw error;
    content = undefined;
  }
  const sha256 = content && createSha256().update(content).digest("hex");
  if (content === undefined || sha256 !== entry.sha256) {
    throw new RootstockError(
      "ERR_PLAN_CHANGED",
      `${source} changed while the plan was running (step "${step.name}")`,
      { hint: "run again: the step's key is computed from the plan as it is when the run starts" },
    );
  }
  // Written from the bytes that were checked, so that what the step sees is what its key says.
  writeFileSync(target, content, { mode: entry.executable ? 0o755 : 0o644 });
  chmodSync(target, entry.executable ? 0o755 : 0o644);
}

function log(fd: number, line: string): void {
  writeSync(fd, `${line}\n`);
}

/** The paths of the root /bin/sh needs to start: it, the files its links lead to, and its loader's. */
async function pathsTheShellNeeds(rootDir: string): Promise<string[]> {
  const shell = await linksOf(rootDir, "/bin/sh");
  const binary = shell.at(-1) as string;
  const interpreter = await elfInterpreter(join(rootDir, binary));
  return [...shell, ...(interpreter === undefined ? [] : await linksOf(rootDir, interpreter))];
}

/** A path of the root and every path its links lead to, within the root. */
async function linksOf(rootDir: string, start: string): Promise<string[]> {
  const paths = [start];
  let path = start;
  for (let hops = 0; hops < 8; hops++) {
    const target = await readlink(join(rootDir, path)).catch(() => undefined);
    if (target === undefined) break;
    path = target.startsWith("/") ? target : join(dirname(path), target);
    paths.push(path);
  }
  return paths;
}

/** The program loader a dynamically linked ELF file names (its PT_INTERP), if it is one. */
async function elfInterpreter(file: string): Promise<string | undefined> {
  const handle = await open(file, "r").catch(() => undefined);
  if (!handle) return undefined;
  try {
    const header = Buffer.alloc(64);
    await handle.read(header, 0, 64, 0);
    if (header.readUInt32BE(0) !== 0x7f454c46) return undefined;
    const wide = header[4] === 2;
    const little = header[5] === 1;
    const u16 = (buffer: Buffer, at: number) => (little ? buffer.readUInt16LE(at) : buffer.readUInt16BE(at));
    const u32 = (buffer: Buffer, at: number) => (little ? buffer.readUInt32LE(at) : buffer.readUInt32BE(at));
    const word = (buffer: Buffer, at: number) =>
      wide ? Number(little ? buffer.readBigUInt64LE(at) : buffer.readBigUInt64BE(at)) : u32(buffer, at);
    const tableAt = word(header, wide ? 0x20 : 0x1c);
    const entrySize = u16(header, wide ? 0x36 : 0x2a);
    const entries = u16(header, wide ? 0x38 : 0x2c);
    const entry = Buffer.alloc(entrySize);
    for (let index = 0; index < entries; index++) {
      await handle.read(entry, 0, entrySize, tableAt + index * entrySize);
      if (u32(entry, 0) !== 3) continue; // PT_INTERP
      const at = word(entry, wide ? 8 : 4);
      const size = word(entry, wide ? 32 : 16);
      const name = Buffer.alloc(Math.min(size, 4096));
      await handle.read(name, 0, name.length, at);
      return name.toString("utf8").replace(/\0.*$/s, "");
    }
    return undefined;
  } finally {
    await handle.close();
  }
}
