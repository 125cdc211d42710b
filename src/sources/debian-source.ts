/**
 * The Debian provider: a source file obtained through the host's own apt configuration, with
 * `apt-get source --download-only` in a scratch folder. apt checks the download against its signed
 * index; rootstock then checks the pinned sha256. No host name is ever written here.
 */
import { RootstockError } from "../errors.ts";
import { hostPath } from "../host/tools.ts";
import type { DebianProvider } from "../plan/types.ts";
import { chooseDebianVersion, parseSourceRecords } from "./debian-index.ts";

const { spawn } = process.getBuiltinModule("node:child_process");
const { mkdir, mkdtemp, rm, stat } = process.getBuiltinModule("node:fs/promises");
const { join } = process.getBuiltinModule("node:path");

export interface DebianFetchOptions {
  /** Folder for the scratch download, on the store's filesystem so that admitting is a rename. */
  scratchDir: string;
  signal?: AbortSignal;
  /** An apt configuration file (APT_CONFIG) instead of the host's. */
  aptConfig?: string;
  /** Called when another version or file name than the pinned one is used (a Debian revision bump). */
  onSubstitute?: (version: string, file: string) => void;
}

export interface DebianDownload {
  path: string;
  version: string;
  /** Removes the scratch folder and what else apt-get downloaded. */
  cleanup(): Promise<void>;
}

const HINT_NO_DEB_SRC =
  "enable deb-src entries in the host's apt sources (as root, `rootstock doctor --install` does it) and run `apt-get update`";

export async function fetchDebianSource(
  provider: DebianProvider,
  sha256: string,
  options: DebianFetchOptions,
): Promise<DebianDownload> {
  const { signal } = options;
  const where = `debian ${provider.package}=${provider.version} (${provider.file})`;
  const targets = await run("apt-get", ["indextargets", "--format", "$(CREATED_BY)"], {
    signal,
    aptConfig: options.aptConfig,
  }).catch((error: unknown) => {
    throw new RootstockError("ERR_DEBIAN_NO_APT", `${where}: cannot run apt-get (${describe(error)})`, {
      hint: "the Debian provider needs a Debian or Ubuntu host; fetch the file from its url or a mirror, or import it",
    });
  });
  if (!targets.stdout.split("\n").some((line) => line.trim() === "Sources")) {
    throw new RootstockError("ERR_DEBIAN_NO_DEB_SRC", `${where}: the host's apt has no deb-src entries`, {
      hint: HINT_NO_DEB_SRC,
    });
  }
  const index = await run("apt-cache", ["showsrc", "--only-source", provider.package], {
    signal,
    aptConfig: options.aptConfig,
    allowFailure: true,
  });
  if (index.code !== 0) {
    throw new RootstockError(
      "ERR_DEBIAN_INDEX",
      `${where}: apt-cache showsrc failed with exit status ${index.code}: ${index.stderr.trim().split("\n").slice(-2).join(" ")}`,
      { hint: "run `apt-get update` and try again" },
    );
  }
  const records = parseSourceRecords(index.stdout);
  const choice = chooseDebianVersion(records, provider, sha256);
  if (!choice.found) {
    if (!choice.newest) {
      throw new RootstockError(
        "ERR_DEBIAN_NOT_FOUND",
        `${where}: apt's source index does not list the package ${provider.package}`,
        { hint: "run `apt-get update`; check the package name on the distribution's package site" },
      );
    }
    const { newest } = choice;
    const file = newest.file
      ? `${newest.file.name} (sha256 ${newest.file.sha256}, ${newest.file.size} bytes)`
      : "no matching file";
    throw new RootstockError(
      "ERR_DEBIAN_NO_VERSION",
      `${where}: no version in apt's index carries a file with sha256 ${sha256}; the newest is ${newest.version} with ${file}`,
      {
        hint: `if the newer file is right, pin it: debian = { package = "${provider.package}", version = "${newest.version}", file = "${newest.file?.name ?? provider.file}" } with its sha256 and size`,
      },
    );
  }
  const candidates = [
    { version: choice.version, file: choice.file, exact: choice.exact },
    ...choice.others.map((other) => ({ ...other, exact: false })),
  ];
  const failures: string[] = [];
  let noDebSrc = false;
  for (const candidate of candidates) {
    if (!candidate.exact) options.onSubstitute?.(candidate.version, candidate.file.name);
    const attempt = await download(provider, candidate, options);
    if ("path" in attempt) return attempt;
    failures.push(attempt.failure);
    noDebSrc ||= attempt.noDebSrc;
    // Without deb-src entries no version can come: the others would fail alike.
    if (attempt.noDebSrc) break;
  }
  throw new RootstockError(
    noDebSrc ? "ERR_DEBIAN_NO_DEB_SRC" : "ERR_DEBIAN_DOWNLOAD",
    `${where}: ${failures.join("; ")}`,
    {
      hint: noDebSrc
        ? HINT_NO_DEB_SRC
        : "run `apt-get update`; check that the host reaches its Debian mirror",
    },
  );
}

/** One version downloaded in a scratch folder of its own, or why it could not be. */
async function download(
  provider: DebianProvider,
  candidate: { version: string; file: { name: string } },
  options: DebianFetchOptions,
): Promise<DebianDownload | { failure: string; noDebSrc: boolean }> {
  await mkdir(options.scratchDir, { recursive: true });
  const scratch = await mkdtemp(join(options.scratchDir, `debian-${provider.package}-`));
  const cleanup = () => rm(scratch, { recursive: true, force: true });
  try {
    const result = await run(
      "apt-get",
      ["source", "--download-only", "--only-source", `${provider.package}=${candidate.version}`],
      { cwd: scratch, signal: options.signal, aptConfig: options.aptConfig, allowFailure: true },
    );
    const path = join(scratch, candidate.file.name);
    const present = await stat(path).then(
      (info) => info.isFile(),
      () => false,
    );
    if (result.code === 0 && present) return { path, version: candidate.version, cleanup };
    const errors = `${result.stdout}\n${result.stderr}`
      .split("\n")
      .filter((line) => /^(E|W|Err):/.test(line.trim()))
      .slice(-4);
    await cleanup();
    return {
      failure: `apt-get source ${provider.package}=${candidate.version} ${result.code === 0 ? `did not produce ${candidate.file.name}` : `failed with exit status ${result.code}`}${errors.length ? `: ${errors.join(" ")}` : ""}`,
      noDebSrc: errors.some((line) => /deb-src/.test(line)),
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(
  command: string,
  args: string[],
  options: { cwd?: string; signal?: AbortSignal; aptConfig?: string | undefined; allowFailure?: boolean },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: {
        ...process.env,
        // apt, found where doctor finds it.
        PATH: hostPath(),
        LC_ALL: "C",
        DEBIAN_FRONTEND: "noninteractive",
        ...(options.aptConfig === undefined ? {} : { APT_CONFIG: options.aptConfig }),
      },
      stdio: ["ignore", "pipe", "pipe"],
      ...(options.signal ? { signal: options.signal } : {}),
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (text: string) => {
      stdout += text;
    });
    child.stderr.setEncoding("utf8").on("data", (text: string) => {
      stderr = (stderr + text).slice(-16_000);
    });
    child.on("error", reject);
    child.on("close", (code) => {
      const result = { code: code ?? 1, stdout, stderr };
      if (code === 0 || options.allowFailure) resolve(result);
      else
        reject(
          new Error(
            `${command} ${args.join(" ")} exited with ${code}: ${stderr.trim().split("\n").slice(-2).join(" ")}`,
          ),
        );
    });
  });
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
