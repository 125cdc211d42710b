/**
 * A root filesystem made only of dependency outputs: their trees merged, in order, into one folder of
 * hard links (a later output wins where two hold the same path). Links, not copies: composing a root of
 * thousands of files costs one link() each and no data. The folder is mounted read-only, so no step can
 * change a store entry through it. Where a hard link is refused (another filesystem, or a file owned by
 * someone else under fs.protected_hardlinks) the file is copied.
 */
const {
  chmodSync,
  chownSync,
  copyFileSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
} = process.getBuiltinModule("node:fs");

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
  mkdirSync(target, { recursive: true });

  // Synchronous: one link() per file, thousands of them; through the thread pool each would cost
  // several times the call itself.
  const merge = (from: string, to: string): void => {
    options.signal?.throwIfAborted();
    for (const entry of readdirSync(from, { withFileTypes: true })) {
      const source = `${from}/${entry.name}`;
      const destination = `${to}/${entry.name}`;
      if (entry.isDirectory()) {
        const existing = lstatSync(destination, { throwIfNoEntry: false });
        if (existing && !existing.isDirectory()) rmSync(destination, { force: true });
        if (!existing?.isDirectory()) {
          const info = lstatSync(source);
          mkdirSync(destination);
          chmodSync(destination, info.mode & 0o7777);
          if (isRoot) chownSync(destination, info.uid, info.gid);
        }
        merge(source, destination);
        continue;
      }
      try {
        linkSync(source, destination);
        result.linked++;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === "EEXIST") {
          // A later layer wins.
          rmSync(destination, { recursive: true, force: true });
          linkSync(source, destination);
          result.linked++;
        } else if (code === "EXDEV" || code === "EPERM") {
          copyEntry(source, destination, isRoot);
          result.copied++;
        } else throw error;
      }
    }
  };

  for (const layer of layers) merge(layer, target);
  return result;
}

function copyEntry(source: string, destination: string, isRoot: boolean): void {
  const info = lstatSync(source);
  if (info.isSymbolicLink()) {
    symlinkSync(readlinkSync(source), destination);
    return;
  }
  copyFileSync(source, destination);
  chmodSync(destination, info.mode & 0o7777);
  if (isRoot) chownSync(destination, info.uid, info.gid);
}
