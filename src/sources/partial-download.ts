/**
 * A download in progress, kept per sha256 beside the store (same filesystem) so that it can be resumed
 * by a later attempt or a later run. Its state records the URL it came from and the validators the
 * server gave (ETag, Last-Modified, total size): a resume is only ever spliced onto bytes of the same
 * resource. A store lock (released by the kernel when its holder dies, however it dies) keeps two
 * processes from writing the same partial.
 */
import type { LockHolder, StoreLocks } from "../store/store-locks.ts";
import { uniqueSuffix } from "../unique.ts";

const { mkdir, readFile, rename, rm, stat, writeFile } = process.getBuiltinModule("node:fs/promises");
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
  readonly #dir: string;
  readonly #sha256: string;

  constructor(dir: string, sha256: string) {
    this.#dir = dir;
    this.#sha256 = sha256;
    this.dataPath = join(dir, sha256);
    this.statePath = join(dir, `${sha256}.json`);
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
   * and returns the function that releases it. `onWait` hears once who it waits for.
   */
  async lock(
    locks: StoreLocks,
    options: { signal?: AbortSignal; onWait?: (holder: LockHolder | undefined) => void } = {},
  ): Promise<() => Promise<void>> {
    const name = `download-${this.#sha256}`;
    const holder = { runId: "", pid: process.pid, what: `the download of ${this.#sha256}` };
    let told = false;
    for (;;) {
      options.signal?.throwIfAborted();
      const held = await locks.tryAcquire(name, holder);
      if (held) return () => held.release();
      if (!told) {
        told = true;
        options.onWait?.(await locks.probe(name, options.signal));
      }
      await sleep(LOCK_POLL_MS, undefined, { signal: options.signal });
    }
  }
}
