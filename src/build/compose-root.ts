/**
 * A root filesystem made only of dependency outputs: their trees merged, in order, into one folder of
 * hard links (a later output wins where two hold the same path). Links, not copies: composing a root of
 * thousands of files costs one link() each and no data. The folder is mounted read-only, so no step can
 * change a store entry through it. Where a hard link is refused (another filesystem, or a file owned by
 * someone else under fs.protected_hardlinks) the file is copied.
 */
import { chmod, chown, copyFile, link, lstat, mkdir, readdir, readlink, rm, symlink } from "node:fs/promises";
import { join } from "node:path";

export interface ComposeOptions {
  signal?: AbortSignal;
}

export interface ComposeResult {
  linked: number;
  copied: number;
}

export async function composeRoot(
  target: string,
  layers: readonly string[],
  options: ComposeOptions = {},
): Promise<ComposeResult> {
  const result: ComposeResult = { linked: 0, copied: 0 };
  const isRoot = process.getuid?.() === 0;
  await mkdir(target, { recursive: true });

  const merge = async (from: string, to: string): Promise<void> => {
    options.signal?.throwIfAborted();
    for (const entry of await readdir(from, { withFileTypes: true })) {
      const source = join(from, entry.name);
      const destination = join(to, entry.name);
      if (entry.isDirectory()) {
        const existing = await lstat(destination).catch(() => undefined);
        if (existing && !existing.isDirectory()) await rm(destination, { force: true });
        if (!existing?.isDirectory()) {
          const info = await lstat(source);
          await mkdir(destination);
          await chmod(destination, info.mode & 0o7777);
          if (isRoot) await chown(destination, info.uid, info.gid);
        }
        await merge(source, destination);
        continue;
      }
      await rm(destination, { recursive: true, force: true });
      try {
        await link(source, destination);
        result.linked++;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== "EXDEV" && code !== "EPERM") throw error;
        await copyEntry(source, destination, isRoot);
        result.copied++;
      }
    }
  };

  for (const layer of layers) await merge(layer, target);
  return result;
}

async function copyEntry(source: string, destination: string, isRoot: boolean): Promise<void> {
  const info = await lstat(source);
  if (info.isSymbolicLink()) {
    await symlink(await readlink(source), destination);
    return;
  }
  await copyFile(source, destination);
  await chmod(destination, info.mode & 0o7777);
  if (isRoot) await chown(destination, info.uid, info.gid);
}
