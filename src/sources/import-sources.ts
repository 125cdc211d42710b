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

const { readdir, stat } = process.getBuiltinModule("node:fs/promises");
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
}

export async function importSources(paths: readonly string[], options: ImportOptions): Promise<ImportResult> {
  const emit = options.emit ?? ignoreEvents;
  const store = new SourceStore(options.storeDir);
  const result: ImportResult = { imported: [], unmatched: [] };
  for (const path of await expand(paths)) {
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

/** Files as given, and the files under folders (recursively), each once. */
async function expand(paths: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  const visit = async (path: string, given: boolean): Promise<void> => {
    const info = await stat(path).catch(() => undefined);
    if (!info) {
      if (!given) return;
      throw new RootstockError("ERR_IMPORT_NOT_FOUND", `${path}: no such file or folder`, {
        hint: "give files (or folders of files) to import",
      });
    }
    if (info.isDirectory()) {
      for (const name of (await readdir(path)).sort()) await visit(join(path, name), false);
    } else if (info.isFile()) files.push(resolve(path));
    else if (given) {
      // A device or a pipe given by name has no bytes to pin; one met inside a folder is passed over.
      throw new RootstockError(
        "ERR_IMPORT_NOT_FILE",
        `${path}: not a regular file (a device, pipe or socket)`,
        {
          hint: "give files (or folders of files) to import",
        },
      );
    }
  };
  for (const path of paths) await visit(path, true);
  return [...new Set(files)];
}
