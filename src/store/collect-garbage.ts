/**
 * `rootstock gc`: removes what no recent run used. A run is recent when it is one of the last `keepRuns`
 * runs, or started within `keepDays` days, or is still running. Entries that a recent run used stay —
 * step outputs, and images and netboot bundles, which a run lists with `useEntries` — and so do its kept
 * build folders and its own folder. Everything else goes: older entries, run folders, work folders of dead runs, and
 * staging leftovers of killed processes.
 *
 * A running build registers its keys (run.json, which names its live process) before it looks at any
 * entry. gc takes each doomed entry out in one rename, then checks the live runs again and puts back
 * any entry one of them registered meanwhile, so it never removes an entry that a running build holds.
 */
import { describeCause, isRootstockError, RootstockError } from "../errors.ts";
import type { Emit, TimedEvent } from "../events.ts";
import { ImageStore } from "../image/image-store.ts";
import { BundleStore } from "../netboot/bundle-store.ts";
import { processAlive, suffixOwner } from "../unique.ts";
import { monotonicMs } from "../units.ts";
import type { Evicted } from "./entry-rename.ts";
import { fileSystemRefusal, listFolder } from "./fs-refusal.ts";
import { OutputStore } from "./output-store.ts";
import { removeTree } from "./remove-tree.ts";
import { listRuns, type RunRecord, readRunRecord, runIsLive, runIsLiveById, runsDir } from "./run-record.ts";
import { StoreLocks, shellLockName } from "./store-locks.ts";

const { existsSync, readFileSync } = process.getBuiltinModule("node:fs");
const { lstat, readdir, readFile } = process.getBuiltinModule("node:fs/promises");
const { join, relative } = process.getBuiltinModule("node:path");

export interface GcOptions {
  /** Runs whose entries are kept, newest first (default 10). */
  keepRuns?: number;
  /** Runs younger than this are kept too (default 14 days). */
  keepDays?: number;
  /** List what would go, remove nothing. */
  dryRun?: boolean;
  emit?: Emit;
  signal?: AbortSignal;
  /** The present, for tests (default: now). */
  now?: Date;
}

export interface GcRemoval {
  /** A step output, an image, a netboot bundle, a run's folder, its build folders, or a leftover. */
  what: "entry" | "image" | "bundle" | "run" | "work" | "tmp";
  name: string;
  bytes: number;
  reason: string;
}

/** Something gc should have removed and could not; the rest went on. */
export interface GcFailure {
  what: GcRemoval["what"];
  name: string;
  /** Names the folder (where it is now) and says what to do. */
  error: RootstockError;
}

export interface GcResult {
  removed: GcRemoval[];
  failed: GcFailure[];
  /** Entries kept. */
  kept: number;
  bytes: number;
}

export const GC_DEFAULTS = { keepRuns: 10, keepDays: 14 } as const;

/** How long a run folder may be without its run.json: a run writes it just after making the folder. */
const REGISTERING_MS = 60_000;

export async function collectGarbage(storeDir: string, options: GcOptions = {}): Promise<GcResult> {
  const started = monotonicMs();
  const keepRuns = options.keepRuns ?? GC_DEFAULTS.keepRuns;
  const keepDays = options.keepDays ?? GC_DEFAULTS.keepDays;
  for (const [name, value] of [
    ["keepRuns", keepRuns],
    ["keepDays", keepDays],
  ] as const) {
    if (!(Number.isFinite(value) && value >= 0))
      throw new RootstockError("ERR_GC_BAD_OPTION", `${name} must be a number of at least 0, not ${value}`, {
        hint: `leave ${name} out for its default (${GC_DEFAULTS[name]})`,
      });
  }
  const now = (options.now ?? new Date()).getTime();
  const dryRun = options.dryRun ?? false;
  const emit = options.emit ?? (() => {});
  const locks = new StoreLocks(storeDir);
  const outputs = new OutputStore(storeDir);
  const images = new ImageStore(storeDir);
  const bundles = new BundleStore(storeDir);

  const gcLock = await locks.tryAcquire("gc", { runId: "gc", pid: process.pid, what: "gc" });
  if (!gcLock) {
    throw new RootstockError("ERR_GC_BUSY", "another rootstock gc is working on this store", {
      hint: "wait for it to finish, then run gc again if needed",
    });
  }
  try {
    const liveRuns = async () => (await listRuns(storeDir)).filter(runIsLive);
    const recorded = await listRuns(storeDir);
    // A run whose run.json is damaged still used entries: its journal says which, else nobody can.
    const damaged = await runsWithoutRecord(storeDir, new Set(recorded.map((run) => run.runId)));
    const runs = [...recorded, ...damaged].sort(
      (a, b) => Date.parse(b.started) - Date.parse(a.started) || b.runId.localeCompare(a.runId),
    );
    const live = new Set((await liveRuns()).map((run) => run.runId));
    const recent = new Set<string>(live);
    for (const [index, run] of runs.entries()) {
      if (index < keepRuns || now - Date.parse(run.started) < keepDays * 86_400_000) recent.add(run.runId);
    }
    // A shell open in one of a run's build folders sees what that run's steps used (its /deps): the run
    // is kept, with its entries and logs, while the shell is.
    for (const run of runs)
      if (!recent.has(run.runId) && (await shellInside(locks, join(storeDir, "work", run.runId))))
        recent.add(run.runId);
    const keptKeys = new Set(
      runs.filter((run) => recent.has(run.runId)).flatMap((run) => Object.values(run.keys)),
    );
    const unknown = damaged.filter((run) => recent.has(run.runId) && run.keysUnknown);

    const removed: GcRemoval[] = [];
    const failed: GcFailure[] = [];
    // Hard links seen across everything this gc removes: a file is counted once, where its last link goes.
    const linksSeen = new Map<string, number>();
    for (const run of unknown)
      failed.push({
        what: "run",
        name: run.runId,
        error: new RootstockError(
          "ERR_GC_RUN_DAMAGED",
          `${join(runsDir(storeDir), run.runId)}: its run.json and journal are both unreadable, so the entries this recent run used cannot be told apart; no entry was removed`,
          { hint: "remove that run folder if the run is of no further use, then run gc again" },
        ),
      });
    const note = (removal: GcRemoval) => {
      removed.push(removal);
      emit({ type: "gc:remove", ...removal, dryRun });
    };
    /** A folder's names; one that cannot be read is listed as failed, and gc goes on without it. */
    const list = (what: GcFailure["what"], path: string) =>
      listFolder(path, storeDir).catch((error: unknown) => {
        failed.push({
          what,
          name: `${relative(storeDir, path)}/ (unreadable)`,
          error: asRootstockError(error, path),
        });
        return [] as string[];
      });
    /** Removes a folder and notes it; one that cannot go is listed as failed, and gc goes on. */
    const remove = async (removal: Omit<GcRemoval, "bytes">, path: string) => {
      options.signal?.throwIfAborted();
      const bytes = await treeBytes(path, linksSeen);
      if (!dryRun) {
        const error = await removeTree(path).catch((caught: unknown) => caught);
        if (error !== undefined) {
          failed.push({ what: removal.what, name: removal.name, error: asRootstockError(error, path) });
          return false;
        }
      }
      note({ ...removal, bytes });
      return true;
    };

    // Entries: out in one rename each, then back if a live run claimed them meanwhile.
    const kinds: KeyedEntries[] = [
      {
        what: "entry",
        keys: () => outputs.keys(),
        evict: (key) => outputs.evict(key),
        restore: (key, path) => outputs.restore(key, path),
        bytes: (key) => treeBytes(outputs.entryDir(key), linksSeen),
      },
      {
        what: "image",
        keys: () => images.keys(),
        evict: (key) => images.evict(key),
        restore: (key, path) => images.restore(key, path),
        bytes: (key) => treeBytes(images.dir(key), linksSeen),
      },
      {
        what: "bundle",
        keys: () => bundles.keys(),
        evict: (key) => bundles.evict(key),
        restore: (key, path) => bundles.restore(key, path),
        bytes: (key) => treeBytes(bundles.dir(key), linksSeen),
      },
    ];
    let entries = 0;
    let removedEntries = 0;
    for (const kind of kinds) {
      const allKeys = await kind.keys();
      entries += allKeys.length;
      const doomed = unknown.length > 0 ? [] : allKeys.filter((key) => !keptKeys.has(key));
      const evicted = new Map<string, Evicted>();
      for (const key of doomed) {
        if (options.signal?.aborted) {
          // Taken out but not yet checked against the live runs: put back, so a stop never costs an
          // entry a run claimed meanwhile.
          for (const [evictedKey, path] of evicted) await kind.restore(evictedKey, path);
          options.signal.throwIfAborted();
        }
        if (dryRun) continue;
        const path = await kind.evict(key).catch((error: unknown) => {
          failed.push({ what: kind.what, name: key, error: asRootstockError(error, key) });
          return undefined;
        });
        if (path) evicted.set(key, path);
      }
      const claimed = new Set((await liveRuns()).flatMap((run) => Object.values(run.keys)));
      for (const key of doomed) {
        const path = evicted.get(key);
        if (claimed.has(key)) {
          if (path) await kind.restore(key, path);
          continue;
        }
        const reason = `not used by the last ${keepRuns} runs nor within ${keepDays} days`;
        if (dryRun) {
          removedEntries++;
          note({ what: kind.what, name: key, bytes: await kind.bytes(key), reason });
        } else if (
          path &&
          (await remove({ what: kind.what, name: key, reason }, path.inPlace?.entry ?? path.path))
        ) {
          // Left where it was (overlayfs), the entry is gone now; its marker goes after it.
          if (path.inPlace) await removeTree(path.path).catch(() => {});
          removedEntries++;
        }
      }
    }

    // Run folders, then work folders of runs that are gone or old, then staging leftovers.
    const runNames = await listFolder(runsDir(storeDir), storeDir);
    for (const name of runNames) {
      if (recent.has(name) || live.has(name)) continue;
      const path = join(runsDir(storeDir), name);
      // Asked again: a run that started after the runs were listed is live but in neither set, and
      // one whose folder is new but has no run.json yet is between its mkdir and writing the record.
      const record = await readRunRecord(path);
      if (record ? runIsLive(record) : await isNew(path)) continue;
      await remove({ what: "run", name, reason: "an older run" }, path);
    }
    const workDir = join(storeDir, "work");
    for (const name of await list("work", workDir)) {
      if (live.has(name) || recent.has(name) || (await runIsLiveById(storeDir, name))) continue;
      const path = join(workDir, name);
      if (await shellInside(locks, path)) continue;
      await remove({ what: "work", name, reason: "build folders of an older run" }, path);
    }
    for (const name of await list("tmp", outputs.tmpDir)) {
      const owner = name.split(".")[0] as string;
      // A run's check that the store may hold programs (exec-probe.PID) is its process's, not a run's.
      if (owner === "exec-probe" && processAlive(Number(name.slice(owner.length + 1)))) continue;
      // Evicted entries left by a killed gc are garbage: this gc holds the gc lock, so none is in flight.
      if (owner !== "evicted" && (live.has(owner) || (await runIsLiveById(storeDir, owner)))) continue;
      const path = join(outputs.tmpDir, name);
      await remove({ what: "tmp", name, reason: "left by a killed process" }, path);
    }
    for (const name of await list("tmp", images.tmpDir)) {
      // An image is built under the lock image:KEY, in a folder named KEY.RANDOM.
      const key = name.split(".")[0] as string;
      if (key !== "evicted" && (await locks.probe(`image:${key}`))) continue;
      const path = join(images.tmpDir, name);
      await remove({ what: "tmp", name: `images/${name}`, reason: "left by a killed process" }, path);
    }
    // Sources staged by an import or a fetch from a file: named with the pid of their process.
    const sourcesTmp = join(storeDir, "sources", "tmp");
    for (const name of await list("tmp", sourcesTmp)) {
      const pid = suffixOwner(name);
      if (pid !== undefined ? processAlive(pid) : await isNew(join(sourcesTmp, name))) continue;
      await remove(
        { what: "tmp", name: `sources/tmp/${name}`, reason: "left by a killed process" },
        join(sourcesTmp, name),
      );
    }
    // A fetch's lock on a partial download, left by a process that died (the partial itself stays:
    // the next fetch resumes it).
    const partials = join(storeDir, "sources", "partial");
    for (const name of await list("tmp", partials)) {
      // The lock holds its owner's pid; the file it is linked from names it in its suffix.
      const owner = name.endsWith(".lock")
        ? Number((await readFile(join(partials, name), "utf8").catch(() => "")).trim())
        : name.includes(".lock.")
          ? suffixOwner(name)
          : undefined;
      if (owner === undefined || (Number.isInteger(owner) && owner > 0 && processAlive(owner))) continue;
      await remove(
        { what: "tmp", name: `sources/partial/${name}`, reason: "left by a killed process" },
        join(partials, name),
      );
    }
    // A plan cache whose plan folder (or whose rootstock install) is gone serves nothing any more: a
    // per-commit job checking each commit out anew would leave one behind per commit.
    const planCaches = join(storeDir, "cache", "plans");
    for (const name of await list("tmp", planCaches)) {
      const path = join(planCaches, name);
      const folders = planCacheFolders(path);
      if (folders !== undefined && folders.every((folder) => existsSync(folder))) continue;
      await remove(
        { what: "tmp", name: `cache/plans/${name}`, reason: "the plan cache of a folder that is gone" },
        path,
      );
    }
    for (const path of await bundles.leftovers()) {
      const name = relative(storeDir, path);
      await remove({ what: "tmp", name, reason: "left by a killed process" }, path);
    }

    const bytes = removed.reduce((sum, removal) => sum + removal.bytes, 0);
    const kept = entries - removedEntries;
    emit({ type: "gc:done", removed: removed.length, kept, bytes, dryRun, ms: monotonicMs() - started });
    return { removed, failed, kept, bytes };
  } finally {
    await gcLock.release();
  }
}

type RecoveredRun = RunRecord & { keysUnknown?: true };

/**
 * Run folders without a readable run.json, older than a run takes to write one: what they used, from
 * their journal (every step's key, the images and bundles they made or used); when that is unreadable
 * too, marked so, with the start their folder's name gives.
 */
async function runsWithoutRecord(storeDir: string, recorded: ReadonlySet<string>): Promise<RecoveredRun[]> {
  const { readJournal } = await import("../report/journal-file.ts");
  const recovered: RecoveredRun[] = [];
  for (const name of await listFolder(runsDir(storeDir), storeDir)) {
    const path = join(runsDir(storeDir), name);
    if (recorded.has(name) || (await isNew(path)) || !(await lstat(path)).isDirectory()) continue;
    let events: TimedEvent[] = [];
    try {
      events = readJournal(path);
    } catch {
      // Unreadable: its keys are unknown.
    }
    const keys: Record<string, string> = {};
    for (const event of events) {
      if (event.type === "run:context" && Array.isArray(event.context?.steps))
        for (const step of event.context.steps) if (typeof step.key === "string") keys[step.name] = step.key;
      if ((event.type === "image:done" || event.type === "image:cached") && typeof event.key === "string")
        keys[`image:${event.image}`] = event.key;
      if (event.type === "netboot:bundle" && typeof event.key === "string")
        keys[`netboot:${event.image}`] = event.key;
    }
    const stamp = /^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})-(\d{3})/.exec(name);
    const fromName = stamp
      ? Date.parse(`${stamp[1]}-${stamp[2]}-${stamp[3]}T${stamp[4]}:${stamp[5]}:${stamp[6]}.${stamp[7]}Z`)
      : NaN;
    const started = events[0]?.time ?? (Number.isNaN(fromName) ? (await lstat(path)).mtimeMs : fromName);
    recovered.push({
      runId: name,
      plan: "",
      planDir: "",
      pid: 0,
      started: new Date(started).toISOString(),
      state: "failed",
      jobs: 0,
      keys,
      built: [],
      cached: [],
      failed: [],
      skipped: [],
      // Without a run.json it never registered, so it never looked at an entry; with a damaged one, it may have.
      ...(events.some((event) => event.type === "run:context") || !(await exists(join(path, "run.json")))
        ? {}
        : { keysUnknown: true as const }),
    });
  }
  return recovered;
}

/** A kind of store entry addressed by key (step outputs, images, netboot bundles). */
interface KeyedEntries {
  what: GcRemoval["what"];
  keys(): Promise<string[]>;
  /** Takes the entry out in one rename; where it went, or undefined when it was not there. */
  evict(key: string): Promise<Evicted | undefined>;
  restore(key: string, evicted: Evicted): Promise<void>;
  /** Its size, for --dry-run: the whole folder, as a real gc counts what it removes. */
  bytes(key: string): Promise<number>;
}

/**
 * The disk space removing a tree frees: blocks allocated (a sparse file's holes are none), and a file
 * hard-linked from elsewhere (a build root's link to an entry) only once all its links have been seen,
 * in this tree or in the others of the same gc (`linksSeen`, shared by them).
 */
async function treeBytes(path: string, linksSeen = new Map<string, number>()): Promise<number> {
  let total = 0;
  const walk = async (at: string): Promise<void> => {
    const info = await lstat(at).catch(() => undefined);
    if (!info) return;
    if (info.isDirectory()) {
      total += info.blocks * 512;
      for (const name of await readdir(at).catch(() => [] as string[])) await walk(join(at, name));
      return;
    }
    if (info.nlink <= 1) {
      total += info.blocks * 512;
      return;
    }
    const inode = `${info.dev}:${info.ino}`;
    const seen = (linksSeen.get(inode) ?? 0) + 1;
    linksSeen.set(inode, seen);
    if (seen === info.nlink) total += info.blocks * 512;
  };
  await walk(path);
  return total;
}

async function exists(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => undefined)) !== undefined;
}

/** A run folder made in the last minute, or gone already: either way not one to remove. */
async function isNew(path: string): Promise<boolean> {
  const info = await lstat(path).catch(() => undefined);
  return info === undefined || Date.now() - info.mtimeMs < REGISTERING_MS;
}

/** removeTree's errors are RootstockErrors already; a failed rename (an entry taken out) is not. */
function asRootstockError(error: unknown, what: string): RootstockError {
  if (isRootstockError(error)) return error;
  const refusal = fileSystemRefusal(error, undefined);
  if (refusal?.code === "ERR_PATH_UNREADABLE") return refusal;
  if ((error as NodeJS.ErrnoException).code === "EXDEV") {
    return new RootstockError(
      "ERR_STORE_REMOVE_FAILED",
      `cannot take ${what} out of the store: ${describeCause(error)}`,
      {
        hint: "the store is on overlayfs, or its folders are on different file systems: gc renames within the store; remove the entry from the lower layer where it was made, or mount the overlay with redirect_dir=on",
        cause: error,
      },
    );
  }
  if ((error as NodeJS.ErrnoException).code === "EROFS") {
    return new RootstockError(
      "ERR_STORE_REMOVE_FAILED",
      `cannot take ${what} out of the store: ${describeCause(error)}`,
      {
        hint: "the store is on a read-only file system: remount it read-write, then run gc again",
        cause: error,
      },
    );
  }
  return new RootstockError(
    "ERR_STORE_REMOVE_FAILED",
    `cannot take ${what} out of the store: ${describeCause(error)}`,
    {
      hint: "the store must be a folder you can write; run gc as the user who owns it",
      cause: error,
    },
  );
}

/** The plan folder and the rootstock install a plan cache file was made for; undefined when unreadable. */
function planCacheFolders(path: string): string[] | undefined {
  try {
    const head: unknown = JSON.parse(readFileSync(path, "utf8"))?.listing?.head;
    const [, planDir, loaderDir] = typeof head === "string" ? head.split("\0") : [];
    return planDir && loaderDir ? [planDir, loaderDir] : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a `rootstock shell` works in one of a run's build folders (it holds a lock on it). */
async function shellInside(locks: StoreLocks, runWorkDir: string): Promise<boolean> {
  for (const step of await readdir(runWorkDir).catch(() => [] as string[]))
    if (await locks.probe(shellLockName(join(runWorkDir, step)))) return true;
  return false;
}
