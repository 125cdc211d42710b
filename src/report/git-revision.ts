/**
 * The commit a folder's git work tree is at, read from the repository's files: no git process, so that
 * a no-op run stays cheap. Local changes are not looked for here; the run's plan digest covers them.
 * Synchronous: a few tiny reads, cheaper without the thread pool.
 */
const { readFileSync, statSync } = process.getBuiltinModule("node:fs");
const { dirname, isAbsolute, join, resolve } = process.getBuiltinModule("node:path");

function findGitDir(start: string, here: boolean): string | undefined {
  let dir = resolve(start);
  for (;;) {
    const candidate = join(dir, ".git");
    const info = statSync(candidate, { throwIfNoEntry: false });
    if (info?.isDirectory()) return candidate;
    if (info?.isFile()) {
      // A linked work tree: ".git" is a file naming the real git folder.
      const text = readFileSync(candidate, "utf8");
      const target = /^gitdir: (.+)$/m.exec(text)?.[1]?.trim();
      if (target) return isAbsolute(target) ? target : resolve(dir, target);
    }
    const parent = dirname(dir);
    if (parent === dir || here) return undefined;
    dir = parent;
  }
}

function readRef(gitDir: string, commonDir: string, ref: string): string | undefined {
  for (const base of [gitDir, commonDir]) {
    const loose = readIfAny(join(base, ref));
    if (loose) return loose.trim();
  }
  const packed = readIfAny(join(commonDir, "packed-refs")) ?? "";
  for (const line of packed.split("\n")) {
    const [sha, name] = line.split(" ");
    if (name === ref && sha && /^[0-9a-f]{40,64}$/.test(sha)) return sha;
  }
  return undefined;
}

/**
 * The short commit id of HEAD, or undefined outside a git work tree. With `here`, only a work tree whose
 * top is `dir` counts: a copy of rootstock kept inside another repository is not at that one's commit.
 */
export function gitRevision(dir: string, { here = false } = {}): string | undefined {
  const gitDir = findGitDir(dir, here);
  if (!gitDir) return undefined;
  const common = readIfAny(join(gitDir, "commondir"))?.trim();
  const commonDir = common ? resolve(gitDir, common) : gitDir;
  const head = (readIfAny(join(gitDir, "HEAD")) ?? "").trim();
  const ref = /^ref: (.+)$/.exec(head)?.[1];
  const sha = ref ? readRef(gitDir, commonDir, ref) : head;
  return sha && /^[0-9a-f]{40,64}$/.test(sha) ? sha.slice(0, 12) : undefined;
}

function readIfAny(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}
