/**
 * Makes every pinned source present in the source store. Each missing file is tried from its
 * candidates in order (global mirrors, its own mirrors, its url, its Debian provider) until one yields
 * the pinned bytes; downloads run in parallel up to a bound. Whatever cannot be obtained is reported in
 * one error that lists every such source with every attempt and why it failed.
 */
import { digestFile } from "../digest.ts";
import { describeCause, RootstockError, RootstockErrors } from "../errors.ts";
import { type Emit, ignoreEvents } from "../events.ts";
import { inParallel } from "../in-parallel.ts";
import type { Source } from "../plan/types.ts";
import { fileSystemRefusal } from "../store/fs-refusal.ts";
import { StoreLocks } from "../store/store-locks.ts";
import { type Candidate, candidatesFor, usesNetwork } from "./candidates.ts";
import { fetchDebianSource } from "./debian-source.ts";
import { downloadHttp } from "./http-download.ts";
import { parseMirror } from "./mirror.ts";
import { PartialDownload } from "./partial-download.ts";
import { SourceStore, sizePinError } from "./source-store.ts";

const { mkdir, stat } = process.getBuiltinModule("node:fs/promises");
const { dirname } = process.getBuiltinModule("node:path");

/** A plan source, with the steps that use it (for messages). */
export type SourceRequest = Source & { steps?: readonly string[] };

export interface FetchOptions {
  storeDir: string;
  /** Touch no network: only the store, folder mirrors and file:/// URLs (default false). */
  offline?: boolean;
  /** Mirrors tried before any of a source's own candidates (folders, file:/// or http(s) URLs). */
  mirrors?: readonly string[];
  /** Downloads at once (default 4). */
  concurrency?: number;
  emit?: Emit;
  signal?: AbortSignal;
  /** Time to open a connection (default 30 s) and to wait for the next byte (default 60 s). */
  connectTimeoutMs?: number;
  stallTimeoutMs?: number;
  /** Proxy settings for http(s) (default process.env). */
  proxyEnv?: NodeJS.ProcessEnv;
  /** An apt configuration file for the Debian provider (APT_CONFIG; default the host's). */
  aptConfig?: string;
  /**
   * Return the sources that could not be obtained (in `unavailable`) instead of throwing: a run that
   * keeps going builds the steps that do not need them.
   */
  keepGoing?: boolean;
  /**
   * Sources that may be missing without failing the fetch (a mirror's sources of steps a `when` turns
   * off here): returned in `unavailable` when they cannot be obtained, as with keepGoing.
   */
  optional?: ReadonlySet<SourceRequest>;
}

export interface Attempt {
  from: string;
  code: string;
  reason: string;
  hint?: string;
}

export interface FetchResult {
  /** Already in the store. */
  present: SourceRequest[];
  fetched: { source: SourceRequest; from: string; bytes: number }[];
  /** With `keepGoing`: each source that could not be obtained, with why (the error a fetch would throw). */
  unavailable?: { sources: SourceRequest[]; error: RootstockError }[];
}

const PROGRESS_INTERVAL_MS = 100;

type StoredState =
  | { kind: "present" | "missing" }
  | { kind: "damaged"; path: string; file: string; actualSha256: string };

/**
 * Whether the store holds the file pinned by a group of sources (one sha256). When its size differs from
 * a pin, only its hash says which is wrong: a right hash means the pin's size is wrong (refused), another
 * one a damaged file.
 */
async function storedState(
  group: readonly SourceRequest[],
  store: SourceStore,
  signal: AbortSignal | undefined,
): Promise<StoredState> {
  const sha256 = (group[0] as SourceRequest).sha256;
  const size = await store.sizeOf(sha256);
  if (size === undefined) return { kind: "missing" };
  const wrong = group.find((source) => source.size !== undefined && source.size !== size);
  if (wrong === undefined) return { kind: "present" };
  const actual = await digestFile(store.path(sha256), signal);
  if (actual.sha256 === sha256) throw sizePinError(wrong, size);
  return { kind: "damaged", path: store.path(sha256), file: wrong.file, actualSha256: actual.sha256 };
}

/**
 * What a run would refuse of sources already in the store, without fetching or setting anything
 * aside: a pinned size that the stored file (whose hash is right) contradicts. For `run --dry-run`.
 */
export async function checkStoredSizes(
  sources: readonly SourceRequest[],
  options: { storeDir: string; signal?: AbortSignal },
): Promise<void> {
  const store = new SourceStore(options.storeDir);
  const groups = Map.groupBy(sources, (source) => source.sha256);
  for (const group of groups.values()) await storedState(group, store, options.signal);
}

export async function fetchSources(
  sources: readonly SourceRequest[],
  options: FetchOptions,
): Promise<FetchResult> {
  const emit = options.emit ?? ignoreEvents;
  const store = new SourceStore(options.storeDir);
  const mirrors = (options.mirrors ?? []).map(parseMirror);

  try {
    await mkdir(store.partialDir, { recursive: true });
  } catch (error) {
    // The refusal names the true cause where Node's mkdir says ENOENT (a read-only disk).
    const refusal = fileSystemRefusal(error, options.storeDir);
    if (refusal) throw refusal;
    throw new RootstockError(
      "ERR_STORE_UNWRITABLE",
      `cannot write the source store ${store.root}: ${describeCause(error)}`,
      {
        hint: "choose a writable store with --store DIR or $ROOTSTOCK_STORE",
        cause: error,
      },
    );
  }
  const groups = Map.groupBy(sources, (source) => source.sha256);

  const result: FetchResult = { present: [], fetched: [] };
  const missing: SourceRequest[][] = [];
  for (const group of groups.values()) {
    const stored = await storedState(group, store, options.signal);
    if (stored.kind === "present") result.present.push(...group);
    else {
      // A damaged file is set aside and fetched again.
      if (stored.kind === "damaged") await store.quarantine(stored.path, stored.file, stored.actualSha256);
      missing.push(group);
    }
  }
  emit({
    type: "fetch:plan",
    missing: missing.length,
    present: groups.size - missing.length,
    bytes: missing.reduce((sum, group) => sum + (group[0]?.size ?? 0), 0),
    unsized: missing.filter((group) => group[0]?.size === undefined).length,
  });

  const failures: { group: SourceRequest[]; attempts: Attempt[] }[] = [];
  let obtained = 0;
  const obtainOne = async (group: SourceRequest[]) => {
    const outcome = await obtain(group, store, mirrors, options, emit).catch((error: unknown) => {
      if (options.signal?.aborted) return undefined;
      throw error;
    });
    if (outcome === undefined) return;
    if (outcome.kind !== "failed") obtained++;
    if (outcome.kind === "fetched") {
      for (const source of group) result.fetched.push({ source, from: outcome.from, bytes: outcome.bytes });
    } else if (outcome.kind === "present") result.present.push(...group);
    else failures.push({ group, attempts: outcome.attempts });
  };
  await inParallel(missing, options.concurrency ?? 4, obtainOne, options.signal);
  // Results and failures in the order the sources were given, not the order downloads finished.
  const order = new Map(sources.map((source, index) => [source, index]));
  const byOrder = (a: SourceRequest, b: SourceRequest) => (order.get(a) ?? 0) - (order.get(b) ?? 0);
  result.present.sort(byOrder);
  result.fetched.sort((a, b) => byOrder(a.source, b.source));
  // With nothing left unfetched, nothing was cancelled here: the caller says what its interruption stopped.
  if (options.signal?.aborted && obtained < missing.length) {
    throw new RootstockError("ERR_FETCH_ABORTED", "fetching was cancelled", {
      hint: "run the command again: what was fetched is kept, and partial downloads resume",
    });
  }
  failures.sort((a, b) => byOrder(a.group[0] as SourceRequest, b.group[0] as SourceRequest));
  const tolerated = (failure: (typeof failures)[number]) =>
    options.keepGoing || failure.group.every((source) => options.optional?.has(source));
  const errorOf = (list: typeof failures) =>
    failureError(list, options.offline ?? false, {
      folders: mirrors.some((mirror) => mirror.kind === "folder"),
      urls: mirrors.some((mirror) => mirror.kind === "url"),
    });
  const fatal = failures.filter((failure) => !tolerated(failure));
  if (fatal.length > 0) throw errorOf(fatal);
  if (failures.length > 0) {
    const error = errorOf(failures);
    // One error per failure, in the same order.
    result.unavailable = failures.map((failure, index) => ({
      sources: failure.group,
      error: error.errors[index] as RootstockError,
    }));
  }
  return result;
}

type Outcome =
  | { kind: "fetched"; from: string; bytes: number }
  | { kind: "present" }
  | { kind: "failed"; attempts: Attempt[] };

async function obtain(
  group: SourceRequest[],
  store: SourceStore,
  mirrors: ReturnType<typeof parseMirror>[],
  options: FetchOptions,
  emit: Emit,
): Promise<Outcome> {
  // The pin that says a size, if one does: the download is checked against it (two steps may pin one
  // file, only one of them with its size).
  const first = group.find((source) => source.size !== undefined) ?? (group[0] as SourceRequest);
  const { sha256, file } = first;
  const partial = new PartialDownload(store.partialDir, sha256);
  const release = await partial.lock(new StoreLocks(options.storeDir), {
    ...(options.signal ? { signal: options.signal } : {}),
    // A holder that does not answer (stopped, or busy) has no pid to give.
    onWait: (holder) =>
      emit({ type: "fetch:waiting", sha256, file, ...(holder && !holder.silent ? { pid: holder.pid } : {}) }),
  });
  try {
    // Another process may have admitted it while this one waited for the lock.
    if (await store.has(sha256)) return { kind: "present" };
    const attempts: Attempt[] = [];
    for (const candidate of candidatesFor(group, mirrors)) {
      if (options.offline && usesNetwork(candidate)) continue;
      if (options.signal?.aborted) break;
      const started = Date.now();
      try {
        const bytes = await tryCandidate(candidate, first, store, partial, options, emit);
        emit({ type: "fetch:done", sha256, file, from: candidate.from, bytes, ms: Date.now() - started });
        emit({ type: "source:admitted", sha256, file, size: bytes, from: candidate.from });
        return { kind: "fetched", from: candidate.from, bytes };
      } catch (caught) {
        // The store's own failure (read-only, full, sha256/ on another disk) or a limit of this process
        // (ulimit -f) ends the fetch: every other candidate would meet it too, and no mirror can help.
        const storeFailure =
          caught instanceof RootstockError ? caught : fileSystemRefusal(caught, options.storeDir);
        if (
          storeFailure?.code === "ERR_STORE_UNWRITABLE" ||
          storeFailure?.code === "ERR_STORE_CROSS_DEVICE" ||
          storeFailure?.code === "ERR_HOST_LIMIT"
        )
          throw storeFailure;
        const error = asAttemptError(caught);
        const reason = error.message;
        attempts.push({
          from: candidate.from,
          code: error.code,
          reason,
          ...(error.hint === undefined ? {} : { hint: error.hint }),
        });
        emit({
          type: "fetch:attempt-failed",
          sha256,
          file,
          from: candidate.from,
          reason,
          ...(error.code === "ERR_FETCH_NOT_FOUND" ? { missing: true as const } : {}),
        });
      }
    }
    return { kind: "failed", attempts };
  } finally {
    await release();
  }
}

/** A RootstockError stays; a file system error (full disk, permissions) becomes one; anything else is a bug. */
function asAttemptError(error: unknown): RootstockError {
  if (error instanceof RootstockError) return error;
  const code = (error as NodeJS.ErrnoException)?.code;
  if (error instanceof Error && typeof code === "string" && /^E[A-Z]+$/.test(code)) {
    return new RootstockError("ERR_FETCH_IO", error.message, {
      hint: code === "ENOSPC" ? "the store's disk is full; free space or use another --store" : undefined,
    });
  }
  throw error;
}

/** Obtains the file from one candidate and admits it; throws a RootstockError saying why not. */
async function tryCandidate(
  candidate: Candidate,
  source: SourceRequest,
  store: SourceStore,
  partial: PartialDownload,
  options: FetchOptions,
  emit: Emit,
): Promise<number> {
  const { sha256, file } = source;
  const expected = { sha256, ...(source.size === undefined ? {} : { size: source.size }) };
  const onQuarantine = (from: string) => (kept: { path: string; actual: { sha256: string } }) =>
    emit({ type: "fetch:quarantined", sha256, file, from, actual: kept.actual.sha256, path: kept.path });

  switch (candidate.kind) {
    case "unsupported":
      throw new RootstockError("ERR_FETCH_UNSUPPORTED", candidate.reason);
    case "file": {
      const info = await stat(candidate.path).catch(() => undefined);
      if (!info?.isFile())
        throw new RootstockError(
          "ERR_FETCH_NOT_FOUND",
          `${candidate.path}: ${await whyNoFile(candidate.path)}`,
        );
      emit({ type: "fetch:start", sha256, file, from: candidate.from, size: info.size, resumeAt: 0 });
      const digest = await store.admit(candidate.path, {
        expected,
        origin: candidate.path,
        record: { how: "fetched", from: candidate.from },
        name: file,
        ...(candidate.mirror ? { copyOfPinned: true } : {}),
        onQuarantine: onQuarantine(candidate.from),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      return digest.size;
    }
    case "http": {
      // A resumed file that fails its hash may be a splice of two versions: it gets one fresh try.
      for (let fresh = false; ; fresh = true) {
        const progress = throttledProgress(emit, sha256, file);
        const download = await downloadHttp(candidate.url, {
          partial,
          ...(source.size === undefined ? {} : { expectedSize: source.size }),
          ...pick(options, ["connectTimeoutMs", "stallTimeoutMs", "proxyEnv", "signal"]),
          onStart: ({ resumeAt, total }) =>
            emit({
              type: "fetch:start",
              sha256,
              file,
              from: candidate.from,
              resumeAt,
              ...(total === undefined ? {} : { size: total }),
            }),
          onProgress: progress.report,
        }).finally(progress.stop);
        try {
          const digest = await store.admit(download.path, {
            expected,
            origin: candidate.url,
            record: { how: "fetched", from: candidate.from },
            name: file,
            move: true,
            onQuarantine: onQuarantine(candidate.from),
          });
          return digest.size;
        } catch (error) {
          if (fresh || !download.resumed || !(error instanceof RootstockError)) throw error;
        } finally {
          await partial.discard();
        }
      }
    }
    case "debian": {
      const { provider } = candidate;
      emit({ type: "fetch:start", sha256, file, from: candidate.from, resumeAt: 0, ...sizeOf(source) });
      const download = await fetchDebianSource(provider, sha256, {
        scratchDir: store.tmpDir,
        ...pick(options, ["signal", "aptConfig"]),
        onSubstitute: (version, usedFile) =>
          emit({
            type: "fetch:substitute",
            sha256,
            file,
            package: provider.package,
            pinned: provider.version,
            used: version,
            ...(usedFile === provider.file ? {} : { pinnedFile: provider.file, usedFile }),
          }),
      });
      try {
        const digest = await store.admit(download.path, {
          expected,
          origin: `${candidate.from} (apt-get source ${provider.package}=${download.version})`,
          record: {
            how: "fetched",
            from: `${candidate.from} (apt-get source ${provider.package}=${download.version})`,
          },
          name: file,
          move: true,
          onQuarantine: onQuarantine(candidate.from),
        });
        return digest.size;
      } finally {
        await download.cleanup();
      }
    }
  }
}

/**
 * At most one progress event per interval; the latest count is always sent in the end, so a stalled
 * transfer shows the bytes it really has.
 */
function throttledProgress(emit: Emit, sha256: string, file: string) {
  let last = 0;
  let trailing: NodeJS.Timeout | undefined;
  let latest: { received: number; total: number | undefined } | undefined;
  const send = () => {
    clearTimeout(trailing);
    trailing = undefined;
    if (!latest) return;
    last = Date.now();
    const { received, total } = latest;
    emit({ type: "fetch:progress", sha256, file, received, ...(total === undefined ? {} : { total }) });
  };
  return {
    report(received: number, total: number | undefined) {
      latest = { received, total };
      const wait = PROGRESS_INTERVAL_MS - (Date.now() - last);
      if (wait <= 0 || received === total) send();
      else trailing ??= setTimeout(send, wait);
    },
    stop() {
      clearTimeout(trailing);
    },
  };
}

function sizeOf(source: Source): { size?: number } {
  return source.size === undefined ? {} : { size: source.size };
}

function pick<T extends object, K extends keyof T>(object: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const picked: Partial<Pick<T, K>> = {};
  for (const key of keys) if (object[key] !== undefined) picked[key] = object[key];
  return picked;
}

function describeSource(group: readonly SourceRequest[]): string {
  const first = group[0] as SourceRequest;
  const steps = [...new Set(group.flatMap((source) => source.steps ?? []))];
  const names = [...new Set(group.map((source) => source.file))].join(", ");
  return `${steps.length > 0 ? `step ${steps.join(", ")}: ` : ""}${names} (sha256 ${first.sha256}${first.size === undefined ? "" : `, ${first.size} bytes`})`;
}

function failureError(
  failures: { group: SourceRequest[]; attempts: Attempt[] }[],
  offline: boolean,
  mirrorsGiven: { folders: boolean; urls: boolean },
): RootstockErrors {
  const indent = (text: string) => text.split("\n").join("\n    ");
  const hintOf = (attempts: Attempt[]) => {
    const hints = [...new Set(attempts.map((attempt) => attempt.hint).filter((hint) => hint !== undefined))];
    return hints.length > 0 ? { hint: hints.join("\n") } : {};
  };
  if (offline) {
    const errors = failures.map(({ group, attempts }) => {
      const urls = [...new Set(group.map((source) => source.url).filter((url) => url !== undefined))];
      const lines = [
        describeSource(group),
        ...urls.map((url) => `  url ${url}`),
        ...new Set(
          group.flatMap(({ debian }) =>
            debian ? [`  debian ${debian.package}=${debian.version} ${debian.file}`] : [],
          ),
        ),
        ...attempts.map((attempt) => `  tried ${indent(attempt.reason)}`),
      ];
      return new RootstockError("ERR_SOURCE_MISSING", lines.join("\n"), hintOf(attempts));
    });
    return new RootstockErrors(
      "ERR_SOURCES_MISSING",
      `${failures.length} source${failures.length === 1 ? " is" : "s are"} not in the store${mirrorsSaid(failures)}, and --offline forbids fetching`,
      errors,
      {
        hint: `run \`rootstock fetch PLAN\` where there is network, or copy the files here and run \`rootstock sources import FILE…\` ${
          mirrorsGiven.folders
            ? "(and check that the mirror given, with --mirror or $ROOTSTOCK_MIRRORS, is the folder `rootstock mirror` wrote: it holds SHA256SUMS and sha256/)"
            : "(or give a mirror folder with --mirror DIR)"
        }${mirrorsGiven.urls ? "; the URL mirrors given are not used offline" : ""}`,
      },
    );
  }
  const errors = failures.map(({ group, attempts }) => {
    const lines = [
      describeSource(group),
      ...attempts.map((attempt) => `  - ${indent(attempt.reason)} [${attempt.code}]`),
    ];
    if (attempts.length === 0) lines.push("  no candidate: the source has no url, mirror or debian provider");
    return new RootstockError("ERR_SOURCE_UNAVAILABLE", lines.join("\n"), hintOf(attempts));
  });
  return new RootstockErrors(
    "ERR_SOURCES_UNAVAILABLE",
    `${failures.length} source${failures.length === 1 ? "" : "s"} could not be obtained`,
    errors,
    {
      hint: "add a mirror that has them (--mirror, $ROOTSTOCK_MIRRORS, or the source's `mirrors`), or fetch them another way and run `rootstock sources import FILE…`",
    },
  );
}

/** What the places it looked in (mirrors, local files the plan names) come to, for the offline summary. */
function mirrorsSaid(failures: readonly { attempts: readonly Attempt[] }[]): string {
  const attempts = failures.flatMap((failure) => failure.attempts);
  if (attempts.length === 0) return "";
  if (attempts.every((attempt) => attempt.code === "ERR_FETCH_NOT_FOUND"))
    return ", nor where rootstock looked without a network (see below)";
  return ", and what it found without a network was refused (see why below)";
}

/** Why a mirror's path holds no file: it is a folder, or a folder on the way is missing or a file. */
async function whyNoFile(path: string): Promise<string> {
  const info = await stat(path).catch(() => undefined);
  if (info?.isDirectory()) return "a folder, not a file";
  if (info !== undefined) return "not a regular file";
  let missing = path;
  for (let parent = dirname(path); parent !== missing; missing = parent, parent = dirname(parent)) {
    const above = await stat(parent).catch(() => undefined);
    if (above === undefined) continue;
    if (!above.isDirectory()) return `no such file (${parent} is a file, not a folder)`;
    return missing === path ? "no such file" : `no such file (there is no folder ${missing})`;
  }
  return "no such file";
}
