/**
 * Host-tool identities remembered between processes: a tool whose binary did not change (same device,
 * inode, size, modification and change times) is neither hashed nor run again. This keeps a no-op run
 * free of child processes.
 */
import { writeFileAtomically } from "../atomic-write.ts";
import { findOnPath, identifyTool, identifyTools, STEP_PATH, type ToolIdentity } from "./tools.ts";

const { mkdirSync, readFileSync, realpathSync, statSync } = process.getBuiltinModule("node:fs");
const { dirname } = process.getBuiltinModule("node:path");

export interface ToolCacheOptions {
  /** The cache file (in the store's `cache/`); without it every tool is identified afresh. */
  cacheFile?: string;
  /** Where the tools are looked for (default: where steps find them, STEP_PATH). */
  searchPath?: string;
}

interface CachedIdentity {
  signature: string;
  identity: ToolIdentity;
}

/** Bumped when the way a tool is identified changes (how its version is asked), so old entries go. */
const IDENTIFY_VERSION = 4;

function signatureOf(path: string): string | undefined {
  try {
    const info = statSync(path, { bigint: true });
    return `${IDENTIFY_VERSION}:${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
  } catch {
    return undefined;
  }
}

export async function identifyToolsCached(
  names: Iterable<string>,
  options: ToolCacheOptions = {},
): Promise<Map<string, ToolIdentity | undefined>> {
  const unique = [...new Set(names)];
  const searchPath = options.searchPath ?? STEP_PATH;
  if (options.cacheFile === undefined) return identifyTools(unique, searchPath);
  let cache: Record<string, CachedIdentity> = {};
  try {
    const read: unknown = JSON.parse(readFileSync(options.cacheFile, "utf8"));
    // A damaged file (null, a string) is no cache; so is an entry of another shape, below.
    if (typeof read === "object" && read !== null && !Array.isArray(read))
      cache = read as Record<string, CachedIdentity>;
  } catch {
    // No cache yet.
  }
  let changed = false;
  const identities = await Promise.all(
    unique.map(async (name) => {
      const path = await findOnPath(name, searchPath);
      if (path === undefined) return undefined;
      const real = realpathSync(path);
      const signature = signatureOf(real);
      const cached = cache[path];
      if (
        signature !== undefined &&
        cached?.signature === signature &&
        typeof cached.identity === "object" &&
        cached.identity?.realPath === real &&
        typeof cached.identity.sha256 === "string"
      ) {
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
      writeFileAtomically(options.cacheFile, JSON.stringify(cache));
    } catch {
      // A cache that cannot be written only costs time.
    }
  }
  return new Map(unique.map((name, index) => [name, identities[index]]));
}

/** The tools rootstock ran itself (toolsUsedSince), each identified where it was looked for. */
export async function identifyUsedTools(
  used: readonly { name: string; searchPath: string }[],
  cacheFile: string,
): Promise<ToolIdentity[]> {
  const found: ToolIdentity[] = [];
  for (const searchPath of new Set(used.map((tool) => tool.searchPath))) {
    const names = used.filter((tool) => tool.searchPath === searchPath).map((tool) => tool.name);
    const identities = await identifyToolsCached(names, { cacheFile, searchPath });
    // QEMU is looked for by its full path: listed by its name.
    for (const identity of identities.values())
      if (identity)
        found.push({ ...identity, name: identity.name.slice(identity.name.lastIndexOf("/") + 1) });
  }
  // One binary found on two PATHs (or through two names) is listed once.
  return [
    ...new Map(found.map((identity) => [`${identity.name}\0${identity.realPath}`, identity])).values(),
  ].sort((a, b) => a.name.localeCompare(b.name));
}
