/**
 * Admits local files into the source store by hash: a tarball carried on a USB stick, a distribution's
 * pristine "orig" tarball that is byte-identical to the upstream release. With pins (a plan's sources),
 * only files whose sha256 (and size) a pin names are admitted, and each is said to satisfy its steps.
 */
import { digestFile } from "../digest.ts";
import { RootstockError } from "../errors.ts";
import { type Emit, ignoreEvents } from "../events.ts";
import { nonUtf8Part } from "../file-names.ts";
import type { SourceRequest } from "./fetch-sources.ts";
import { SourceStore, sizePinError } from "./source-store.ts";

const { lstat, readdir, realpath, stat } = process.getBuiltinModule("node:fs/promises");
const { dirname, join, resolve } = process.getBuiltinModule("node:path");

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
  const { files, passedOver } = await expand(paths, options.storeDir);
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
        record: { how: "imported", from: resolve(path) },
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
 * The first thing on the way to `path` that keeps other users out: a folder they may not enter, or the
 * file itself when they may not read it; undefined when they can read it. Folders are looked at once.
 */
async function closedToOthers(path: string, folders: Map<string, boolean>): Promise<string | undefined> {
  const real = await realpath(path);
  const info = await stat(real);
  if (!info.isDirectory() && (info.mode & 0o004) === 0)
    return `mode ${(info.mode & 0o777).toString(8).padStart(4, "0")}`;
  for (let dir = info.isDirectory() ? real : dirname(real); ; dir = dirname(dir)) {
    let open = folders.get(dir);
    if (open === undefined) {
      open = ((await stat(dir)).mode & 0o001) !== 0;
      folders.set(dir, open);
    }
    if (!open) return `its folder ${dir} is closed to them`;
    if (dir === "/") return undefined;
  }
}

/**
 * Files as given, and the files under folders (recursively), each once. Inside a folder, a link to a
 * file is read but a link to a folder is not followed: it may lead out of the folder (to all of /root)
 * or round in a loop. The store keeps every file readable by all who can enter it: a file others may
 * not read where it is (a key, /etc/shadow through a link, a file in a closed folder) is not taken into
 * a store they can enter.
 */
async function expand(
  paths: readonly string[],
  storeDir: string,
): Promise<{ files: string[]; passedOver: ImportResult["passedOver"] }> {
  const files: string[] = [];
  const passedOver: ImportResult["passedOver"] = [];
  const folders = new Map<string, boolean>();
  // The store, or the nearest folder of it that exists (rootstock makes the rest open to all).
  let storeRoot = resolve(storeDir);
  while (!(await stat(storeRoot).catch(() => undefined)) && storeRoot !== "/") storeRoot = dirname(storeRoot);
  const storeOpen = (await closedToOthers(storeRoot, folders)) === undefined;
  const refuse = (
    code: `ERR_${string}`,
    message: string,
    hint = "give files (or folders of files) to import",
  ) => {
    throw new RootstockError(code, message, { hint });
  };
  const visit = async (path: string, given: boolean): Promise<void> => {
    const link = given ? undefined : await lstat(path).catch(() => undefined);
    let loop = false;
    let tooLong = false;
    const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
      loop = error.code === "ELOOP";
      tooLong = error.code === "ENAMETOOLONG";
      return undefined;
    });
    if (!info) {
      // Node reads a name that is not UTF-8 with U+FFFD in place of its bytes: by that name it is nowhere.
      const notUtf8 = !loop && !link?.isSymbolicLink() && nonUtf8Part(path) !== undefined;
      const what = loop
        ? "a link that leads round in a loop"
        : tooLong
          ? "a name in it is longer than 255 bytes, or the whole longer than 4096"
          : notUtf8
            ? "its name is not valid UTF-8 (shown with \uFFFD), and rootstock reads names as UTF-8"
            : given
              ? "no such file or folder"
              : "a link that leads nowhere";
      const renameHint =
        "rename it to UTF-8 (`convmv -f latin1 -t utf8 --notest FILE`, or mv), then import it";
      if (given) refuse("ERR_IMPORT_NOT_FOUND", `${path}: ${what}`, notUtf8 ? renameHint : undefined);
      passedOver.push({ path, reason: notUtf8 ? `${what}; ${renameHint}` : what });
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
      const closed = storeOpen ? await closedToOthers(path, folders) : undefined;
      if (closed !== undefined) {
        const why = `others may not read it (${closed}), but could in the source store, which they may enter`;
        const hint = "if it may be shared, let others read it first (`chmod o+r`, and open its folders)";
        if (given) refuse("ERR_IMPORT_PRIVATE", `${path}: ${why}`, hint);
        passedOver.push({ path, reason: `${why}; ${hint}` });
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
