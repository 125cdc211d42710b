/**
 * Finds host tools and pins down what they are: resolved path, sha256 of the binary and the version
 * line it prints. A step whose root includes the host's tools has these in its key, and the report
 * lists them as binary seeds.
 */
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { access, constants, realpath, stat } from "node:fs/promises";
import { delimiter, dirname, join } from "node:path";
import { digestFile } from "../digest.ts";

export interface ToolIdentity {
  name: string;
  /** Absolute path as found on PATH, and where its links lead. */
  path: string;
  realPath: string;
  sha256: string;
  size: number;
  /** First line the tool prints for --version (or -V, or nothing it recognises). */
  version: string;
}

export async function findOnPath(
  name: string,
  searchPath = process.env.PATH ?? "",
): Promise<string | undefined> {
  if (name.includes("/")) return (await isExecutable(name)) ? name : undefined;
  for (const dir of searchPath.split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

function firstLine(command: string, args: string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = execFile(
      command,
      args,
      { timeout: 3000, env: { ...process.env, LC_ALL: "C" } },
      (error, stdout, stderr) => {
        const text = `${stdout}`.trim() || `${stderr}`.trim();
        const line = text.split("\n")[0]?.trim();
        resolve(error && !line ? undefined : line || undefined);
      },
    );
    // Without input: `sh -V` (dash) would otherwise wait on stdin for the whole timeout.
    child.stdin?.end();
  });
}

/** Version line by the usual flags; dash and friends have none, so their hash is their identity. */
async function versionOf(path: string): Promise<string> {
  for (const flag of ["--version", "-V"]) {
    const line = await firstLine(path, [flag]);
    if (line && !/(illegal|invalid|unknown|unrecognized) option/i.test(line) && !/usage/i.test(line))
      return line;
  }
  return "unknown";
}

const cache = new Map<string, Promise<ToolIdentity | undefined>>();

export function identifyTool(
  name: string,
  searchPath = process.env.PATH ?? "",
): Promise<ToolIdentity | undefined> {
  const cacheKey = `${searchPath}\0${name}`;
  let pending = cache.get(cacheKey);
  if (!pending) {
    pending = (async () => {
      const path = await findOnPath(name, searchPath);
      if (path === undefined) return undefined;
      const real = await realpath(path);
      const [digest, version] = await Promise.all([digestFile(real), versionOf(path)]);
      return { name, path, realPath: real, sha256: digest.sha256, size: digest.size, version };
    })();
    cache.set(cacheKey, pending);
  }
  return pending;
}

/** The string that goes into step keys for a tool. */
export function toolKey(identity: ToolIdentity | undefined): string {
  return identity === undefined ? "missing" : `${identity.realPath} sha256:${identity.sha256}`;
}

export interface IdentifyOptions {
  /**
   * A file remembering identities between processes, keyed by the binary's path, inode, size and times:
   * a tool that did not change is not hashed or run again.
   */
  cacheFile?: string;
}

interface CachedIdentity {
  signature: string;
  identity: ToolIdentity;
}

function signatureOf(path: string): string | undefined {
  try {
    const info = statSync(path, { bigint: true });
    return `${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
  } catch {
    return undefined;
  }
}

export async function identifyTools(
  names: Iterable<string>,
  options: IdentifyOptions = {},
): Promise<Map<string, ToolIdentity | undefined>> {
  const unique = [...new Set(names)];
  if (options.cacheFile === undefined) {
    const identities = await Promise.all(unique.map((name) => identifyTool(name)));
    return new Map(unique.map((name, index) => [name, identities[index]]));
  }
  let cache: Record<string, CachedIdentity> = {};
  try {
    cache = JSON.parse(readFileSync(options.cacheFile, "utf8")) as Record<string, CachedIdentity>;
  } catch {
    // No cache yet.
  }
  let changed = false;
  const searchPath = process.env.PATH ?? "";
  const identities = await Promise.all(
    unique.map(async (name) => {
      const path = await findOnPath(name, searchPath);
      if (path === undefined) return undefined;
      const real = await realpath(path);
      const signature = signatureOf(real);
      const cached = cache[path];
      if (signature !== undefined && cached?.signature === signature && cached.identity.realPath === real) {
        return { ...cached.identity, name };
      }
      const identity = await identifyTool(name, searchPath);
      if (identity && signature !== undefined) {
        cache[path] = { signature, identity };
        changed = true;
      }
      return identity;
    }),
  );
  if (changed) {
    try {
      mkdirSync(dirname(options.cacheFile), { recursive: true });
      const staged = `${options.cacheFile}.${process.pid}`;
      writeFileSync(staged, JSON.stringify(cache));
      renameSync(staged, options.cacheFile);
    } catch {
      // A cache that cannot be written only costs time.
    }
  }
  return new Map(unique.map((name, index) => [name, identities[index]]));
}
