/**
 * A download in progress, kept per sha256 beside the store (same filesystem) so that it can be resumed
 * by a later attempt or a later run. Its state records the URL it came from and the validators the
 * server gave (ETag, Last-Modified, total size): a resume is only ever spliced onto bytes of the same
 * resource. A lock file holding the owner's pid keeps two processes from writing the same partial.
 */
import { processAlive, uniqueSuffix } from "../unique.ts";

const { link, mkdir, readFile, rename, rm, stat, writeFile } = process.getBuiltinModule("node:fs/promises");
const { join } = process.getBuiltinModule("node:path");
const { setTimeout: sleep } = process.getBuiltinModule("node:timers/promises");

export interface PartialState {
  /** The URL the download was started from (before redirects): a resume starts there too. */
  url: string;
  etag?: string;
  lastModified?: string;
  /** Size of the whole file, as the server announced it. */
  total?: number;
}

export interface PartialOnDisk {
  state: PartialState;
  /** Bytes already on disk. */
  bytes: number;
}

const LOCK_POLL_MS = 250;

export class PartialDownload {
  readonly dataPath: string;
  readonly statePath: string;
  readonly lockPath: string;
  readonly #dir: string;

  constructor(dir: string, sha256: string) {
    this.#dir = dir;
    this.dataPath = join(dir, sha256);
    this.statePath = join(dir, `${sha256}.json`);
    this.lockPath = join(dir, `${sha256}.lock`);
  }

  async read(): Promise<PartialOnDisk | undefined> {
    try {
      const state = JSON.parse(await readFile(this.statePath, "utf8")) as PartialState;
      const info = await stat(this.dataPath);
      if (typeof state.url !== "string" || !info.isFile()) return undefined;
      return { state, bytes: info.size };
    } catch {
      return undefined;
    }
  }

  /** Records what is being downloaded, before any byte of it is written. */
  async begin(state: PartialState): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    const staged = `${this.statePath}.${uniqueSuffix()}`;
    await writeFile(staged, `${JSON.stringify(state)}\n`);
    await rename(staged, this.statePath);
  }

  async discard(): Promise<void> {
    await rm(this.statePath, { force: true });
    await rm(this.dataPath, { force: true });
  }

  /**
   * Waits until this process owns the partial (another process may be downloading the same file),
   * and returns the function that releases it. A lock left by a dead process is taken over.
   */
  async lock(signal?: AbortSignal): Promise<() => Promise<void>> {
    await mkdir(this.#dir, { recursive: true });
    // The lock appears with its owner's pid already in it (a link of a written file), so that no one
    // ever reads an empty lock and takes it for a stale one.
    const mine = `${this.lockPath}.${uniqueSuffix()}`;
    await writeFile(mine, `${process.pid}\n`);
    try {
      for (;;) {
        signal?.throwIfAborted();
        try {
          await link(mine, this.lockPath);
          return () => rm(this.lockPath, { force: true });
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
        }
        await this.#waitOrTakeOver(signal);
      }
    } finally {
      await rm(mine, { force: true });
    }
  }

  /** Takes over a lock whose owner is dead; otherwise waits a little. */
  async #waitOrTakeOver(signal: AbortSignal | undefined): Promise<void> {
    const text = await readFile(this.lockPath, "utf8").catch(() => undefined);
    if (text === undefined) return; // released meanwhile
    const owner = Number.parseInt(text, 10);
    if (!Number.isInteger(owner) || !processAlive(owner)) {
      await rm(this.lockPath, { force: true });
      return;
    }
    await sleep(LOCK_POLL_MS, undefined, { signal });
  }
}
