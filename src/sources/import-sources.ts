/**
 * Admits local files into the source store by hash: a tarball carried on a USB stick, a distribution's
 * pristine "orig" tarball that is byte-identical to the upstream release. With pins (a plan's sources),
 * only files whose sha256 (and size) a pin names are admitted, and each is said to satisfy its steps.
 */
import { digestFile } from "../digest.ts";
import { RootstockError } from "../errors.ts";
import { type Emit, ignoreEvents } from "../events.ts";
import type { SourceRequest } from "./fetch-sources.ts";
import { SourceStore, sizePinError } from "./source-store.ts";

const { lstat, readdir, stat } = process.getBuiltinModule("node:fs/promises");
const { join, resolve } = process.getBuiltinModule("node:path");

export interface ImportOptions {
  storeDir: string;
  /** Admit only files these pins name (default: admit every file under its own hash). */
  pins?: readonly SourceRequest[];
  emit?: Emit;
  signal?: AbortSignal;
}

export interface ImportedFile {
  path: string;
  sha256: string;
  size: number;
  /** The pins it satisfies (empty without pins). */
  satisfies: SourceRequest[];
  /** False when the store held it already. */
  added: boolean;
}

export interface ImportResult {
  imported: ImportedFile[];
  /** Files no pin names: reported, not admitted. */
  unmatched: { path: string; sha256: string; size: number }[];
  /** Entries of the folders given that were not read, and why: links to folders, private files. */
  passedOver: { path: string; reason: string }[];
}

export async function importSources(paths: readonly string[], options: ImportOptions): Promise<ImportResult> {
  const emit = options.emit ?? ignoreEvents;
  const store = new SourceStore(options.storeDir);
  const { files, passedOver } = await expand(paths);
  const result: ImportResult = { imported: [], unmatched: [], passedOver };
  for (const path of files) {
    options.signal?.throwIfAborted();
    const digest = await digestFile(path, options.signal);
    const satisfies = (options.pins ?? []).filter((pin) => pin.sha256 === digest.sha256);
    const wrongSize = satisfies.find((pin) => pin.size !== undefined && pin.size !== digest.size);
    if (wrongSize) throw sizePinError(wrongSize, digest.size);
    if (options.pins && satisfies.length === 0) {
      result.unmatched.push({ path, ...digest });
      continue;
    }
    const present = await store.has(digest.sha256);
    if (!present) {
      // Hashed again while copied: the file may change between the two reads.
      const name = satisfies[0]?.file;
      await store.admit(path, {
        expected: digest,
        origin: path,
        onMismatch: "discard",
        ...(name === undefined ? {} : { name }),
      });
      emit({
        type: "source:admitted",
        sha256: digest.sha256,
        file: satisfies[0]?.file ?? path,
        size: digest.size,
        from: path,
      });
    }
    result.imported.push({ path, ...digest, satisfies, added: !present });
  }
  return result;
}

/**
 * Files as given, and the files under folders (recursively), each once. Inside a folder, a link to a
 * file is read but a link to a folder is not followed: it may lead out of the folder (to all of /root)
 * or round in a loop. A file others may not read is not taken: the store keeps every file readable by
 * all, and a private file (a key, /etc/shadow through a link) must not become so by being in a folder.
 */
async function expand(
  paths: readonly string[],
): Promise<{ files: string[]; passedOver: ImportResult["passedOver"] }> {
  const files: string[] = [];
  const passedOver: ImportResult["passedOver"] = [];
  const refuse = (
    code: `ERR_${string}`,
    message: string,
    hint = "give files (or folders of files) to import",
  ) => {
    throw new RootstockError(code, message, { hint });
  };
  const visit = async (path: string, given: boolean): Promise<void> => {
    const link = given ? undefined : await lstat(path).catch(() => undefined);
    const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
      if (given && error.code === "ELOOP")
        refuse("ERR_IMPORT_NOT_FOUND", `${path}: a link that leads round in a loop`);
      return undefined;
    });
    if (!info) {
      if (given) refuse("ERR_IMPORT_NOT_FOUND", `${path}: no such file or folder`);
      passedOver.push({ path, reason: "a link that leads nowhere" });
      return;
    }
    if (info.isDirectory()) {
      if (link?.isSymbolicLink()) {
        passedOver.push({
          path,
          reason: "a link to a folder, not followed (give the folder itself to import it)",
        });
        return;
      }
      for (const name of (await readdir(path)).sort()) await visit(join(path, name), false);
    } else if (info.isFile()) {
      if ((info.mode & 0o004) === 0) {
        const mode = (info.mode & 0o777).toString(8).padStart(4, "0");
        const why = `others may not read it (mode ${mode}), and the source store keeps every file readable by all`;
        if (given)
          refuse("ERR_IMPORT_PRIVATE", `${path}: ${why}`, `if it may be shared, \`chmod o+r\` it first`);
        passedOver.push({ path, reason: `${why}; \`chmod o+r\` it if it may be shared` });
        return;
      }
      files.push(resolve(path));
    } else if (given) {
      // A device or a pipe given by name has no bytes to pin; one met inside a folder is passed over.
      refuse("ERR_IMPORT_NOT_FILE", `${path}: not a regular file (a device, pipe or socket)`);
    }
  };
  for (const path of paths) await visit(path, true);
  return { files: [...new Set(files)], passedOver };
}
