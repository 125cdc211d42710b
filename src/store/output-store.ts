/**
 * Step outputs addressed by key. An entry is a folder `outputs/KEY/` holding the output tree (`out/`),
 * its manifest and a record of the run that made it. It is assembled in `tmp/` on the same filesystem,
 * then renamed into place in one step, so a reader sees a complete entry or none, whatever is killed when.
 * Entries are never changed after the rename.
 */
import type { Digest } from "../digest.ts";
import { describeCause, isRootstockError, RootstockError } from "../errors.ts";
import { uniqueSuffix } from "../unique.ts";
import type { Evicted } from "./entry-rename.ts";
import type { Manifest } from "./manifest.ts";

const { chmodSync, existsSync, lstatSync, mkdirSync, renameSync, writeFileSync } =
  process.getBuiltinModule("node:fs");
// Taken when first needed: a no-op run needs none of it, and loading it costs 2 ms.
const fsp = () => process.getBuiltinModule("node:fs/promises");
// Loaded by commits, gc and eviction only: a no-op run does none of them.
const entryRename = () => import("./entry-rename.ts");
const { join } = process.getBuiltinModule("node:path");

/** Where the output tree of the entry `key` is (whether or not it exists). */
export function outputPath(storeDir: string, key: string): string {
  return join(storeDir, "outputs", key, "out");
}

/** What the store knows about how an entry was made (`entry.json`). */
export interface EntryRecord {
  key: string;
  plan: string;
  step: string;
  runId: string;
  /** ISO time of the commit. */
  created: string;
  /** Wall time of the build that made it. */
  buildMs: number;
  /** The key inputs, by name, as `resolveGraph` listed them. */
  inputs: Record<string, string>;
  digest: Digest;
  files: number;
  bytes: number;
}

export interface CommitOptions {
  signal?: AbortSignal;
}

export interface Committed {
  path: string;
  record: EntryRecord;
  /** True when another run committed the same key first; its entry is kept and ours discarded. */
  existed: boolean;
}

/**
 * Whether an entry must be closed to other users (a folder of mode 0700): it holds a setuid or setgid
 * file, which another user could run; a file or folder others may write (a root filesystem's /tmp,
 * 1777), into which another user could put files that images then carry; or one a chroot step gave
 * another owner (the manifest records the builder as 0), which that host user could change.
 */
export function mustBeClosed(manifest: Pick<Manifest, "root" | "entries">): boolean {
  return (
    (manifest.root.mode & 0o022) !== 0 ||
    manifest.entries.some(
      (entry) =>
        (entry.kind === "file" && (entry.mode & 0o6000) !== 0) ||
        (entry.kind !== "symlink" && (entry.mode & 0o022) !== 0) ||
        entry.uid !== 0 ||
        entry.gid !== 0,
    )
  );
}

export class OutputStore {
  readonly storeDir: string;

  constructor(storeDir: string) {
    this.storeDir = storeDir;
    this.outputsDir = join(storeDir, "outputs");
  }

  /** Joined once: entries are looked up by concatenation, hundreds of times on a no-op run. */
  readonly outputsDir: string;

  /** Scratch space on the store's filesystem, so that renames into the store are atomic. */
  get tmpDir(): string {
    return join(this.storeDir, "tmp");
  }

  entryDir(key: string): string {
    return join(this.outputsDir, key);
  }

  outputPath(key: string): string {
    return `${this.outputsDir}/${key}/out`;
  }

  /**
   * An entry counts when its output and its record are there: one whose out/ is gone (damaged by hand) is
   * built again, and one whose entry.json is gone is being removed where it is (see evictEntry).
   */
  async has(key: string): Promise<boolean> {
    const there = (path: string) =>
      fsp()
        .stat(path)
        .then(
          () => true,
          () => false,
        );
    return (await there(join(this.entryDir(key), "entry.json"))) && there(this.outputPath(key));
  }

  /** outputs go from work/ into tmp/, then into outputs/: each rename must stay on one file system. */
  async #crossDevice(error: unknown, from: string, to: string): Promise<unknown> {
    if ((error as NodeJS.ErrnoException).code !== "EXDEV") return error;
    const { crossDeviceRefusal } = await import("./fs-refusal.ts");
    return crossDeviceRefusal(
      error,
      { from, to, what: "an output" },
      { home: this.storeDir, folders: [from, this.tmpDir, this.outputsDir], names: "work/, tmp/, outputs/" },
    );
  }

  /**
   * What `has` says, in one stat a step (500 of them in a no-op run: the bench's target (a)): the kernel
   * walks out/ to reach entry.json through it, so the path is there only when both are.
   */
  hasSync(key: string): boolean {
    return existsSync(`${this.outputsDir}/${key}/out/../entry.json`);
  }

  async record(key: string): Promise<EntryRecord | undefined> {
    const text = await fsp()
      .readFile(join(this.entryDir(key), "entry.json"), "utf8")
      .catch(() => undefined);
    return text === undefined ? undefined : (JSON.parse(text) as EntryRecord);
  }

  async manifest(key: string): Promise<Manifest | undefined> {
    const text = await fsp()
      .readFile(join(this.entryDir(key), "manifest.json"), "utf8")
      .catch(() => undefined);
    return text === undefined ? undefined : (JSON.parse(text) as Manifest);
  }

  async keys(): Promise<string[]> {
    // Loaded here: a no-op run lists no entries.
    const { listFolder } = await import("./fs-refusal.ts");
    const names = await listFolder(this.outputsDir);
    return names.filter((name) => /^[0-9a-f]{64}$/.test(name));
  }

  /**
   * Moves `outDir` (which must be on the store's filesystem, and which no process may still write to)
   * into the store as the entry `key`. If the commit fails, the tree is moved back to `outDir`, where
   * `rootstock shell` mounts it again.
   */
  async commit(
    outDir: string,
    meta: Omit<EntryRecord, "created" | "digest" | "files" | "bytes">,
    options: CommitOptions = {},
  ): Promise<Committed> {
    // A key names a folder of the store: anything but a digest would put an entry elsewhere.
    if (!/^[0-9a-f]{64}$/.test(meta.key)) throw new Error(`not a step key: ${JSON.stringify(meta.key)}`);
    // A step that shares the host's root (sandbox = "host") can remove $OUT, or put a file or a link in
    // its place: an entry's out/ is a folder of its own, never a link to a place outside the store.
    const out = lstatSync(outDir, { throwIfNoEntry: false });
    if (!out?.isDirectory()) {
      const what =
        out === undefined
          ? "removed it"
          : out.isSymbolicLink()
            ? "replaced it with a link"
            : "replaced it with a file";
      throw new RootstockError(
        "ERR_BUILD_OUT_REPLACED",
        `step "${meta.step}" ${what}: $OUT must stay a folder`,
        {
          hint: 'install into "$OUT" (mkdir -p "$OUT/…", cp … "$OUT/"), but never remove, move or replace $OUT itself',
        },
      );
    }
    // Synchronous for the few tiny operations: each async one costs a thread-pool round trip.
    mkdirSync(this.tmpDir, { recursive: true });
    mkdirSync(this.outputsDir, { recursive: true });
    const staging = join(this.tmpDir, `${meta.runId}.${meta.key.slice(0, 16)}.${uniqueSuffix()}`);
    const staged = join(staging, "out");
    mkdirSync(staging);
    let moved = false;
    try {
      try {
        moveFolder(outDir, staged);
        moved = true;
      } catch (error) {
        throw await this.#crossDevice(error, outDir, this.tmpDir);
      }
      // Imported here: only a run that builds commits, and a no-op run is mostly start-up.
      const { computeManifest } = await import("./manifest.ts");
      const manifest = await computeManifest(staged, { ...options, grantOwnerAccess: true }).catch(
        (error: unknown) => {
          if (isRootstockError(error) || options.signal?.aborted) throw error;
          const path = String((error as NodeJS.ErrnoException).path ?? "").replace(`${staged}/`, "");
          const code = (error as NodeJS.ErrnoException).code;
          // The cause before the path: a long path would push it off a terminal line.
          const shown =
            path.length > 160 ? `${path.slice(0, 80)}…${path.slice(-60)} (${path.length} bytes)` : path;
          throw new RootstockError(
            "ERR_STORE_UNREADABLE_OUTPUT",
            code === "ENAMETOOLONG"
              ? `step "${meta.step}" left a path in its output that is too long for Linux under the store (ENAMETOOLONG): ${shown}`
              : `step "${meta.step}" left a file in its output that rootstock cannot read (${code ?? describeCause(error)}): ${shown || "?"}`,
            {
              hint:
                code === "ENAMETOOLONG"
                  ? `paths in an output must stay within 4095 bytes with the store's own (${staged.length} bytes here) before them: make them shorter in the step, or use a store with a shorter path`
                  : "give the file read permission in the install phase (chmod u+r), or leave it out",
              cause: error,
            },
          );
        },
      );
      const record: EntryRecord = {
        ...meta,
        created: new Date().toISOString(),
        digest: manifest.digest,
        files: manifest.files,
        bytes: manifest.bytes,
      };
      writeFileSync(join(staging, "manifest.json"), JSON.stringify(manifest));
      writeFileSync(join(staging, "entry.json"), `${JSON.stringify(record, null, 2)}\n`);
      // Setuid and setgid bits stay (a root filesystem needs them), and so do modes that let others
      // write (/tmp is 1777), but such an entry must be no one else's way in: another user could run a
      // setuid-root program a plan made, or put files into a root filesystem's /tmp, which images take.
      if (mustBeClosed(manifest)) chmodSync(staging, 0o700);
      options.signal?.throwIfAborted();
      try {
        renameSync(staging, this.entryDir(meta.key));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "EXDEV")
          throw await this.#crossDevice(error, this.tmpDir, this.outputsDir);
        if (!(await entryRename()).isTakenError(error)) throw error;
        if (await this.has(meta.key)) {
          const existing = await this.record(meta.key);
          return { path: this.outputPath(meta.key), record: existing ?? record, existed: true };
        }
        // A damaged entry (its output or record gone) gives way to the whole one; one that could not be
        // renamed out (overlayfs) is removed first, where it is.
        const { removeEvicted } = await entryRename();
        const evicted = await this.evict(meta.key);
        if (evicted?.inPlace) await removeEvicted(evicted);
        renameSync(staging, this.entryDir(meta.key));
        if (evicted && !evicted.inPlace) await removeEvicted(evicted).catch(() => {});
      }
      return { path: this.outputPath(meta.key), record, existed: false };
    } catch (error) {
      if (moved) {
        try {
          moveFolder(staged, outDir);
        } catch {
          // Removed with the staging folder below: the failure to report is the commit's.
        }
      }
      throw error;
    } finally {
      // What cannot go is left to gc, which reports it; the outcome to report is the commit's.
      if (existsSync(staging)) await (await import("./remove-tree.ts")).removeTree(staging).catch(() => {});
    }
  }

  /**
   * Takes an entry out of the store in one rename (readers see it whole or not at all), returning where
   * it went so that the caller can delete it or put it back.
   */
  async evict(key: string): Promise<Evicted | undefined> {
    return (await entryRename()).evictEntry(this.entryDir(key), this.tmpDir, key, "entry.json");
  }

  /** Undoes `evict`, unless the key was committed again meanwhile. */
  async restore(key: string, evicted: Evicted): Promise<void> {
    await (await entryRename()).restoreEntry(evicted, this.entryDir(key));
  }
}

/**
 * Renames a folder. Moving a folder to another parent rewrites its `..`, which needs write permission on
 * it: a step may have taken that away from its output folder, so its owner gets it for the move.
 */
function moveFolder(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EACCES") throw error;
    const { mode } = lstatSync(from);
    if ((mode & 0o200) !== 0) throw error;
    chmodSync(from, (mode & 0o7777) | 0o200);
    try {
      renameSync(from, to);
    } finally {
      chmodSync(existsSync(to) ? to : from, mode & 0o7777);
    }
  }
}
