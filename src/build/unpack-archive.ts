/**
 * Unpacking sources and running host tools for a step's preparation, their output going to the step's
 * log. rootstock unpacks on the host, with GNU tar (or unzip), before the sandbox starts.
 */
import { RootstockError } from "../errors.ts";
import { noteToolUse } from "../host/tools.ts";

const { spawn } = process.getBuiltinModule("node:child_process");
const { lstat, mkdir, open, readdir, rename, rm, rmdir, stat } = process.getBuiltinModule("node:fs/promises");
const { dirname, join } = process.getBuiltinModule("node:path");

export const HOST_TOOL_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";

/** The program GNU tar runs to decompress an archive, by the archive's first bytes (as tar tells). */
const DECOMPRESSORS: [magic: Buffer, program: string][] = [
  [Buffer.from([0x1f, 0x8b]), "gzip"],
  [Buffer.from("BZh"), "bzip2"],
  [Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), "xz"],
  [Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), "zstd"],
  [Buffer.from("LZIP"), "lzip"],
  [Buffer.from([0x5d, 0x00, 0x00]), "lzma"],
];

async function decompressorOf(archive: string): Promise<string | undefined> {
  const head = Buffer.alloc(6);
  const file = await open(archive, "r");
  try {
    const { bytesRead } = await file.read(head, 0, head.length, 0);
    return DECOMPRESSORS.find(
      ([magic]) => bytesRead >= magic.length && head.subarray(0, magic.length).equals(magic),
    )?.[1];
  } finally {
    await file.close();
  }
}

export interface UnpackOptions {
  logFd: number;
  signal?: AbortSignal;
}

/** Unpacks an archive into `into`; an archive holding a single top folder has that folder stripped. */
export async function unpackArchive(archive: string, into: string, options: UnpackOptions): Promise<void> {
  const name = archive.slice(archive.lastIndexOf("/") + 1);
  const staging = `${into}.unpacking`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  const [file, args] = name.endsWith(".zip")
    ? ["unzip", ["-q", archive, "-d", staging]]
    : // Into the working folder, not -C: GNU tar reads backslashes in -C's path as escapes.
      ["tar", ["-xf", archive, "--no-same-owner"]];
  const decompressor = file === "tar" ? await decompressorOf(archive) : undefined;
  if (decompressor !== undefined) noteToolUse(decompressor, HOST_TOOL_PATH);
  const code = await runLogged(file, args, {
    cwd: staging,
    logFd: options.logFd,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  if (code !== 0) {
    throw new RootstockError("ERR_BUILD_UNPACK", `cannot unpack ${name}: ${file} exited with ${code}`, {
      hint: "the step's log shows why; check that the archive is complete and that its format is supported",
    });
  }
  const top = await readdir(staging);
  const single = top.length === 1 ? join(staging, top[0] as string) : undefined;
  const intoExists = await stat(into).catch(() => undefined);
  if (intoExists) {
    throw new RootstockError("ERR_BUILD_UNPACK", `cannot unpack ${name} into ${into}: it is already there`, {
      hint: 'give the archive its own folder with `into = "…"` in step.toml',
    });
  }
  await mkdir(dirname(into), { recursive: true });
  if (single && (await lstat(single)).isDirectory()) {
    await rename(single, into);
    await rmdir(staging);
  } else await rename(staging, into);
}

/** Runs a host command with its output appended to a log; resolves with its exit status. */
export function runLogged(
  file: string,
  args: string[],
  options: { cwd: string; logFd: number; signal?: AbortSignal },
): Promise<number> {
  noteToolUse(file, HOST_TOOL_PATH);
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      stdio: ["ignore", options.logFd, options.logFd],
      env: { PATH: HOST_TOOL_PATH, LC_ALL: "C" },
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const missing = () =>
      new RootstockError("ERR_HOST_TOOL_MISSING", `${file} is not installed on this host`, {
        hint: "run `rootstock doctor --install`",
      });
    child.on("error", (error: NodeJS.ErrnoException) => {
      if (error.name === "AbortError") reject(options.signal?.reason ?? error);
      else if (error.code === "ENOENT") reject(missing());
      else reject(error);
    });
    child.on("close", (code) => resolve(code ?? 1));
  });
}
