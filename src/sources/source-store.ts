/**
 * Sources addressed by sha256. A file enters only after its hash (and size, when pinned) is verified:
 * it is copied beside the store, hashed, and renamed into place. A file that does not match is kept
 * in quarantine for inspection, and nothing is admitted.
 */

import { writeFileAtomically } from "../atomic-write.ts";
import { type Digest, digestFile } from "../digest.ts";
import { RootstockError } from "../errors.ts";
import { ownCopy } from "../store/owner.ts";
import { uniqueSuffix } from "../unique.ts";

const { chmod, copyFile, link, mkdir, rename, rm, stat } = process.getBuiltinModule("node:fs/promises");
const { basename, join } = process.getBuiltinModule("node:path");
const { constants, mkdirSync, readFileSync } = process.getBuiltinModule("node:fs");

export interface Expected {
  sha256: string;
  size?: number;
}

/** How a source entered the store, kept beside it: a later run's report says so. */
export interface SourceOrigin {
  how: "fetched" | "imported";
  /** A URL, a mirror's path, a Debian source package, or the imported file's path. */
  from: string;
  /** ISO time of admission. */
  at: string;
}

export interface AdmitOptions {
  /** How the file comes into the store, recorded once it is in (see originOf). */
  record?: Omit<SourceOrigin, "at">;
  /** What the file must hash to; without it any file is admitted under its own hash. */
  expected?: Expected;
  /** Where it came from, for messages (a URL or a path). */
  origin?: string;
  /** Name for the quarantined copy (default: the file's base name). */
  name?: string;
  /** Move instead of copy (the file is a download of ours). */
  move?: boolean;
  /** The file was copied as the pinned one (a mirror): other content is damage, not a new release. */
  copyOfPinned?: boolean;
  /** Told where a file that failed verification is kept, and what it hashed to. */
  onQuarantine?: (kept: { path: string; actual: Digest }) => void;
  /** Stops admitting (a copy of a large local file is hashed, then renamed: both take a while). */
  signal?: AbortSignal;
  /**
   * What to do with a file that does not match: kept for inspection (a download), or discarded (a
   * local file that changed while it was read, which its own folder still holds).
   */
  onMismatch?: "quarantine" | "discard";
}

export class SourceStore {
  readonly root: string;
  readonly #storeDir: string;

  constructor(storeDir: string) {
    this.#storeDir = storeDir;
    this.root = join(storeDir, "sources");
  }

  path(sha256: string): string {
    return join(this.root, "sha256", sha256);
  }

  get quarantineDir(): string {
    return join(this.root, "quarantine");
  }

  /** A scratch folder on the store's filesystem, so that renames into the store are atomic. */
  get tmpDir(): string {
    return join(this.root, "tmp");
  }

  /** Downloads in progress, kept for resuming; on the store's filesystem. */
  get partialDir(): string {
    return join(this.root, "partial");
  }

  async has(sha256: string): Promise<boolean> {
    return (await this.sizeOf(sha256)) !== undefined;
  }

  /** The stored file's size; undefined when it is not in the store. */
  async sizeOf(sha256: string): Promise<number | undefined> {
    return stat(this.path(sha256)).then(
      (info) => (info.isFile() ? info.size : undefined),
      () => undefined,
    );
  }

  /**
   * Admits the file; a write into the store that fails (a read-only or full disk, sha256/ on another
   * file system than tmp/) is ERR_STORE_UNWRITABLE or ERR_STORE_CROSS_DEVICE: the store's failure, which
   * no other copy of the file would get past.
   */
  async admit(file: string, options: AdmitOptions = {}): Promise<Digest> {
    try {
      return await this.#admit(file, options);
    } catch (error) {
      throw error instanceof RootstockError ? error : await this.#storeRefusal(error);
    }
  }

  async #storeRefusal(error: unknown): Promise<unknown> {
    const { crossDeviceRefusal, fileSystemRefusal } = await import("../store/fs-refusal.ts");
    const { path, dest } = error as NodeJS.ErrnoException & { dest?: string };
    if ((error as NodeJS.ErrnoException).code === "EXDEV" && path !== undefined && dest !== undefined) {
      return crossDeviceRefusal(
        error,
        { from: path, to: dest, what: "a source" },
        {
          home: this.root,
          folders: [this.partialDir, this.tmpDir, join(this.root, "sha256")],
          names: "sources/partial/, sources/tmp/, sources/sha256/",
          hint: "to share sources between stores, link the whole sources/ folder instead",
        },
      );
    }
    // A file that cannot be read where it is (a mirror's) is no failure of the store's.
    const refusal = fileSystemRefusal(error, this.#storeDir);
    return refusal?.code.startsWith("ERR_STORE_") ? refusal : error;
  }

  async #admit(file: string, options: AdmitOptions): Promise<Digest> {
    await mkdir(this.tmpDir, { recursive: true });
    const name = options.name ?? basename(file);
    const staged = join(this.tmpDir, `${name}.${uniqueSuffix()}`);
    try {
      if (options.move) await rename(file, staged);
      else {
        await copyFile(file, staged);
        ownCopy(staged);
      }
      options.signal?.throwIfAborted();
      const digest = await digestFile(staged, options.signal);
      const { expected } = options;
      if (
        expected &&
        digest.sha256 === expected.sha256 &&
        expected.size !== undefined &&
        expected.size !== digest.size
      ) {
        // The bytes are the pinned ones; the plan's size is what is wrong.
        throw sizePinError({ file: options.origin ?? file, size: expected.size }, digest.size);
      }
      if (
        expected &&
        (digest.sha256 !== expected.sha256 || (expected.size !== undefined && expected.size !== digest.size))
      ) {
        const what = digest.sha256 !== expected.sha256 ? "sha256" : "size";
        if (options.onMismatch === "discard")
          throw new RootstockError(
            "ERR_SOURCE_CHANGED",
            `${options.origin ?? file} changed while it was read: sha256 ${expected.sha256} (${expected.size ?? "?"} bytes), then ${digest.sha256} (${digest.size} bytes)`,
            { hint: "nothing was admitted; import it again once nothing writes to it" },
          );
        const kept = await this.quarantine(staged, name, digest.sha256);
        options.onQuarantine?.({ path: kept, actual: digest });
        throw new RootstockError(
          "ERR_SOURCE_HASH_MISMATCH",
          `${options.origin ?? file}: ${what} mismatch\n  expected sha256 ${expected.sha256}${expected.size === undefined ? "" : ` (${expected.size} bytes)`}\n  actual   sha256 ${digest.sha256} (${digest.size} bytes)`,
          {
            hint: options.copyOfPinned
              ? `nothing was admitted; the file is kept for inspection at ${kept}. It was kept as the pinned file, so it is damaged${expected.size !== undefined && digest.size < expected.size ? ` (cut short: ${digest.size} of ${expected.size} bytes)` : ""} or was changed: copy it again from where it was made (\`rootstock mirror\` on a connected machine); the pin is not what is wrong`
              : `nothing was admitted; the file is kept for inspection at ${kept}. If the new file is right, update the pin in the plan.`,
          },
        );
      }
      await mkdir(join(this.root, "sha256"), { recursive: true });
      // Stored sources are linked into build folders; read-only so that no build can change them.
      await chmod(staged, 0o444);
      // Cancelled meanwhile: nothing is admitted after the person asked to stop.
      options.signal?.throwIfAborted();
      await rename(staged, this.path(digest.sha256));
      if (options.record) this.#recordOrigin(digest.sha256, options.record);
      return digest;
    } finally {
      await rm(staged, { force: true });
    }
  }

  #originPath(sha256: string): string {
    return join(this.root, "origin", `${sha256}.json`);
  }

  #recordOrigin(sha256: string, origin: Omit<SourceOrigin, "at">): void {
    try {
      mkdirSync(join(this.root, "origin"), { recursive: true });
      writeFileAtomically(
        this.#originPath(sha256),
        JSON.stringify({ ...origin, at: new Date().toISOString() }),
      );
    } catch {
      // The source is in; only the note of where it came from is missing, as in a store older than it.
    }
  }

  /** How a stored source came in; undefined when no record was kept (an older store, a damaged note). */
  originOf(sha256: string): SourceOrigin | undefined {
    try {
      const read = JSON.parse(readFileSync(this.#originPath(sha256), "utf8"));
      if (
        (read?.how === "fetched" || read?.how === "imported") &&
        typeof read.from === "string" &&
        typeof read.at === "string"
      )
        return { how: read.how, from: read.from, at: read.at };
    } catch {
      // No record.
    }
    return undefined;
  }

  /** Kept once per content: fetching the same wrong file again does not pile up copies. */
  async quarantine(file: string, name: string, sha256: string): Promise<string> {
    await mkdir(this.quarantineDir, { recursive: true });
    const target = join(this.quarantineDir, `${sha256.slice(0, 16)}-${name}`);
    if (
      await stat(target).then(
        () => true,
        () => false,
      )
    )
      await rm(file, { force: true });
    else await rename(file, target);
    return target;
  }

  /**
   * Links (or copies, across filesystems) a stored source to `target`. `copy`: for a step outside any
   * sandbox, where no read-only mount guards the link and root can write through its 0444 mode into the
   * store's own file.
   */
  async materialize(sha256: string, target: string, { copy = false } = {}): Promise<void> {
    const source = this.path(sha256);
    if (copy) {
      await copyFile(source, target, constants.COPYFILE_FICLONE);
      return;
    }
    try {
      await link(source, target);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EXDEV") throw error;
      await copyFile(source, target);
    }
  }
}

/**
 * A pin whose sha256 is right and whose size is not: the plan is wrong, whatever route brought the file,
 * and would fail on a machine that fetches it.
 */
export function sizePinError(
  pin: { file: string; size?: number; steps?: readonly string[] },
  actual: number,
): RootstockError {
  const where = pin.steps && pin.steps.length > 0 ? ` (step ${pin.steps.join(", ")})` : "";
  return new RootstockError(
    "ERR_SOURCE_SIZE_PIN",
    `source ${pin.file}${where}: the sha256 matches the pin, but the file is ${actual} bytes, not the pinned ${pin.size}: the pin's size is wrong`,
    { hint: `set size = ${actual} in the source's entry, or remove size` },
  );
}
