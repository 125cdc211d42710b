/**
 * The commit a folder's git work tree is at, read from the repository's files: no git process, so that
 * a no-op run stays cheap. Local changes are not looked for here; the run's plan digest covers them.
 */
import { readFile, stat } from "node:fs/promises";
import { dirname, isAbsolute, join, resolve } from "node:path";

async function findGitDir(start: string): Promise<string | undefined> {
  let dir = resolve(start);
  for (;;) {
    const candidate = join(dir, ".git");
    const info = await stat(candidate).catch(() => undefined);
    if (info?.isDirectory()) return candidate;
    if (info?.isFile()) {
      // A linked work tree: ".git" is a file naming the real git folder.
      const text = await readFile(candidate, "utf8");
      const target = /^gitdir: (.+)$/m.exec(text)?.[1]?.trim();
      if (target) return isAbsolute(target) ? target : resolve(dir, target);
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

async function readRef(gitDir: string, commonDir: string, ref: string): Promise<string | undefined> {
  for (const base of [gitDir, commonDir]) {
    const loose = await readFile(join(base, ref), "utf8").catch(() => undefined);
    if (loose) return loose.trim();
  }
  const packed = await readFile(join(commonDir, "packed-refs"), "utf8").catch(() => "");
  for (const line of packed.split("\n")) {
    const [sha, name] = line.split(" ");
    if (name === ref && sha && /^[0-9a-f]{40,64}$/.test(sha)) return sha;
  }
  return undefined;
}

/** The short commit id of HEAD, or undefined outside a git work tree. */
export async function gitRevision(dir: string): Promise<string | undefined> {
  const gitDir = await findGitDir(dir);
  if (!gitDir) return undefined;
  const common = (await readFile(join(gitDir, "commondir"), "utf8").catch(() => undefined))?.trim();
  const commonDir = common ? resolve(gitDir, common) : gitDir;
  const head = (await readFile(join(gitDir, "HEAD"), "utf8").catch(() => ""))?.trim();
  const ref = /^ref: (.+)$/.exec(head)?.[1];
  const sha = ref ? await readRef(gitDir, commonDir, ref) : head;
  return sha && /^[0-9a-f]{40,64}$/.test(sha) ? sha.slice(0, 12) : undefined;
}
