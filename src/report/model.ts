/**
 * A run, as reports tell it, built from the journal alone: the same journal always gives the same
 * report, however old the run.
 */
import type { RunContext, RunError, TimedEvent } from "../events.ts";

/**
 * `interrupted`: stopped by Ctrl-C or SIGTERM; `unfinished`: started, and the run ended (killed) before
 * the step did.
 */
export type StepStatus = "built" | "cached" | "failed" | "interrupted" | "unfinished" | "not-run";

export interface StepRecord {
  name: string;
  stage: string;
  version?: string;
  key?: string;
  /** The tree digest of what it built (a cached step's is in the report of the run that built it). */
  digest?: string;
  status: StepStatus;
  /** Milliseconds after the run started. */
  start?: number;
  end?: number;
  ms: number;
  worker?: number;
  attempts: number;
  log?: string;
  reason?: string;
  tail?: string[];
}

export interface StageRecord {
  name: string;
  description?: string;
  /** Time its steps took, added up. */
  stepMs: number;
  /** From its first step's start to its last step's end. */
  wallMs: number;
  built: number;
  cached: number;
  failed: number;
  interrupted: number;
}

export interface ImageRecord {
  name: string;
  /** Its key in the image store and the sha256 of its file (absent in older journals). */
  key?: string;
  sha256?: string;
  /** Milliseconds after the run started. */
  start?: number;
  kind?: string;
  path?: string;
  bytes?: number;
  ms: number;
  /** Made, but the journal has no time for it (an older rootstock's). */
  msUnknown?: boolean;
  cached: boolean;
  /** Why it could not be made; without it and without a path, it was not finished. */
  error?: string;
  /** Stopped by Ctrl-C or SIGTERM. */
  interrupted?: boolean;
}

/** How a report says what became of an image. */
export function imageOutcome(
  image: ImageRecord,
): "cached" | "made" | "failed" | "interrupted" | "unfinished" {
  return image.cached
    ? "cached"
    : image.interrupted
      ? "interrupted"
      : image.error !== undefined
        ? "failed"
        : image.path !== undefined
          ? "made"
          : "unfinished";
}

export interface TestRecord {
  /** Milliseconds after the run started. */
  start?: number;
  image: string;
  /** The test module, as the plan lists it (absent in journals of an older rootstock). */
  module?: string;
  test: string;
  /** False for a skipped test too: it proved nothing. */
  ok: boolean;
  /** Why it did not run (an earlier test of its module failed, or the run was interrupted). */
  skipped?: string;
  ms: number;
  error?: string;
  /** The console log of the machine it drove. */
  consoleLog?: string;
  /** What the test proves when it passes, as its module declared (`buildsSoftware`). */
  evidence?: string[];
}

export interface RunReport {
  runId: string;
  runDir?: string;
  context?: RunContext;
  /** Epoch milliseconds: when the run began (before its host checks and fetching). */
  started: number;
  ended?: number;
  /** From the start to the end of the whole run, images and tests included. */
  totalMs: number;
  /** A killed run's time is what its files show: at least that long. */
  totalAtLeast?: boolean;
  /** From the start until the last step finished. */
  buildMs: number;
  ok: boolean;
  /** Ended by Ctrl-C or SIGTERM (its journal says so). */
  interrupted: boolean;
  /** What stopped the run besides its steps and tests (a source that could not be fetched). */
  error?: RunError;
  /** True while the journal has no end: the run is going on, or was killed. */
  unfinished: boolean;
  /** Unfinished because it is going on (its process is alive): the report is of the run so far. */
  running?: boolean;
  steps: StepRecord[];
  stages: StageRecord[];
  criticalPath: string[];
  criticalMs: number;
  images: ImageRecord[];
  tests: TestRecord[];
  accel?: { accel: string; reason: string };
  /** A netboot run's server: when it began to listen (ms from the start); absent when nothing was served. */
  servedFrom?: number;
  consoleLogs: { machine: string; path: string }[];
  fetched: { file: string; sha256?: string; bytes: number; from: string; ms: number }[];
  /** Sources this run tried to fetch and did not obtain (by sha256). */
  unobtained: string[];
  /** Host tools rootstock ran itself (tar, bwrap, mke2fs, QEMU), which no key names. */
  toolsRun: RunContext["seeds"];
}

export function reportFromEvents(events: readonly TimedEvent[]): RunReport {
  const startEvent = events.find((event) => event.type === "run:start");
  const started = startEvent?.time ?? events[0]?.time ?? 0;
  const rel = (time: number) => time - started;
  // The session's first event (its context, written as it opens) may come well before run:start.
  const opened = Math.min(
    started,
    events[0]?.time ?? started,
    events.find((event) => event.type === "run:context")?.time ?? started,
  );
  const told = events.find((event) => event.type === "run:context")?.context;
  // A journal damaged by hand still tells what it can; a context of another shape is none.
  const whole =
    typeof told === "object" && told !== null && Array.isArray(told.steps) && Array.isArray(told.stages);
  // A format that is no whole number is none: what the journal recorded is then not known.
  const context =
    whole && told.journal !== undefined && !(Number.isSafeInteger(told.journal) && told.journal > 0)
      ? { ...told, journal: undefined }
      : whole
        ? told
        : undefined;
  const steps = new Map<string, StepRecord>();
  const stageOf = new Map(context?.steps.map((step) => [step.name, step]) ?? []);
  const record = (name: string): StepRecord => {
    let found = steps.get(name);
    if (!found) {
      const info = stageOf.get(name);
      found = { name, stage: info?.stage ?? "", status: "not-run", ms: 0, attempts: 0 };
      if (info?.version !== undefined) found.version = info.version;
      if (info?.key !== undefined) found.key = info.key;
      steps.set(name, found);
    }
    return found;
  };
  for (const step of context?.steps ?? []) record(step.name);
  if (startEvent?.type === "run:start" && Array.isArray(startEvent.steps))
    for (const name of startEvent.steps) record(String(name));

  const images = new Map<string, ImageRecord>();
  const testStarts = new Map<string, number>();
  const tests: TestRecord[] = [];
  const consoleLogs: RunReport["consoleLogs"] = [];
  const fetched: RunReport["fetched"] = [];
  const tried = new Set<string>();
  const toolsRun: RunReport["toolsRun"] = [];
  let accel: RunReport["accel"];
  let servedFrom: number | undefined;
  /** The build's end, and the run's: a test, boot or netboot run goes on after its build. */
  let buildEnd: Extract<TimedEvent, { type: "run:done" }> | undefined;
  let end: Extract<TimedEvent, { type: "run:end" }> | undefined;

  for (const event of events) {
    switch (event.type) {
      case "step:cached": {
        const step = record(event.step);
        // A later build in the same run (a test after its image) finds what an earlier one built.
        if (step.status === "built") break;
        Object.assign(step, {
          status: "cached",
          key: event.key,
          start: rel(event.time),
          end: rel(event.time),
          ms: 0,
        });
        break;
      }
      case "step:start": {
        const step = record(event.step);
        step.attempts = Math.max(step.attempts, event.attempt);
        if (event.attempt === 1 || step.start === undefined) step.start = rel(event.time);
        Object.assign(step, { key: event.key, worker: event.worker, log: event.log });
        break;
      }
      case "step:done": {
        const step = record(event.step);
        Object.assign(step, {
          status: "built",
          end: rel(event.time),
          worker: event.worker,
          key: event.key,
          ...(typeof event.digest === "string" ? { digest: event.digest } : {}),
        });
        // The time the step took, as the terminal said it; with retries, all its attempts together.
        step.ms =
          step.attempts > 1 && step.end !== undefined && step.start !== undefined
            ? (step.end as number) - step.start
            : event.ms;
        break;
      }
      case "step:failed": {
        const step = record(event.step);
        Object.assign(step, {
          status: event.interrupted ? "interrupted" : "failed",
          end: rel(event.time),
          reason: event.reason,
          tail: event.tail,
          log: event.log,
        });
        step.ms =
          step.attempts > 1 && step.start !== undefined ? (step.end as number) - step.start : event.ms;
        break;
      }
      case "step:skipped":
        // A step its `when` disabled is not part of the run: reports list it apart, as skipped.
        if (!stageOf.has(event.step) && context?.disabled?.some((step) => step.name === event.step)) break;
        record(event.step).reason = event.because;
        break;
      case "image:start":
        images.set(event.image, {
          name: event.image,
          kind: event.kind,
          start: rel(event.time),
          ms: 0,
          cached: false,
        });
        break;
      case "image:cached":
        images.set(event.image, {
          name: event.image,
          kind: event.kind,
          path: event.path,
          bytes: event.bytes,
          key: event.key,
          ...(typeof event.sha256 === "string" ? { sha256: event.sha256 } : {}),
          ms: 0,
          cached: true,
        });
        break;
      case "image:done": {
        const image = images.get(event.image) ?? { name: event.image, ms: 0, cached: false };
        Object.assign(image, {
          path: event.path,
          bytes: event.bytes,
          ms: event.ms,
          key: event.key,
          ...(typeof event.sha256 === "string" ? { sha256: event.sha256 } : {}),
        });
        images.set(event.image, image);
        break;
      }
      case "image:failed": {
        const image = images.get(event.image) ?? { name: event.image, ms: 0, cached: false };
        image.error = event.error;
        if (event.interrupted) image.interrupted = true;
        images.set(event.image, image);
        break;
      }
      // A netboot bundle (kernel, RAM root, system) is listed with the images, whether made or cached;
      // the RAM root inside it is the bundle's, not an image of its own.
      case "netboot:bundle":
        images.set(`netboot\0${event.image}`, {
          name: event.image,
          kind: "netboot bundle",
          path: event.dir,
          bytes: event.bytes,
          ms: event.ms ?? 0,
          cached: event.cached,
          ...(event.cached ? {} : { start: rel(event.time) - (event.ms ?? 0) }),
          ...(event.cached || event.ms !== undefined ? {} : { msUnknown: true }),
        });
        break;
      case "test:start":
        testStarts.set(`${event.image}\0${event.module}\0${event.test}`, rel(event.time));
        break;
      case "test:done":
        tests.push({
          start:
            testStarts.get(`${event.image}\0${event.module}\0${event.test}`) ?? rel(event.time) - event.ms,
          image: event.image,
          ...(typeof event.module === "string" ? { module: event.module } : {}),
          test: event.test,
          ok: event.ok,
          ms: event.ms,
          ...(event.error === undefined ? {} : { error: event.error }),
          ...(event.evidence === undefined ? {} : { evidence: event.evidence }),
          ...(event.consoleLog === undefined ? {} : { consoleLog: event.consoleLog }),
        });
        break;
      case "test:skipped":
        tests.push({
          start: rel(event.time),
          image: event.image,
          ...(typeof event.module === "string" ? { module: event.module } : {}),
          test: event.test,
          ok: false,
          skipped: event.reason,
          ms: 0,
        });
        break;
      case "netboot:listening":
        servedFrom ??= rel(event.time);
        break;
      case "vm:accel":
        accel ??= { accel: event.accel, reason: event.reason };
        break;
      case "vm:start":
        if (!consoleLogs.some((log) => log.path === event.consoleLog))
          consoleLogs.push({ machine: event.machine, path: event.consoleLog });
        break;
      case "fetch:attempt-failed":
        if (typeof event.sha256 === "string") tried.add(event.sha256);
        break;
      case "fetch:done":
        fetched.push({
          file: event.file,
          ...(typeof event.sha256 === "string" ? { sha256: event.sha256 } : {}),
          bytes: event.bytes,
          from: event.from,
          ms: event.ms,
        });
        break;
      case "run:done":
        buildEnd = event;
        break;
      case "run:tools":
        // A journal edited by hand: only whole entries.
        if (Array.isArray(event.tools))
          toolsRun.push(
            ...event.tools.filter(
              (tool) =>
                typeof tool?.name === "string" &&
                typeof tool.path === "string" &&
                typeof tool.sha256 === "string",
            ),
          );
        break;
      case "run:end":
        end = event;
        break;
      default:
        break;
    }
  }

  const stepList = [...steps.values()];
  if (end === undefined)
    for (const step of stepList)
      if (step.status === "not-run" && step.start !== undefined) step.status = "unfinished";
  const error = runErrorIn(end);
  if (error)
    for (const step of stepList)
      if (step.status === "not-run" && step.reason === undefined)
        step.reason = `the run stopped before it: ${error.message.split("\n")[0]}`;
  const last = events[events.length - 1]?.time ?? started;
  const ended = end?.time ?? buildEnd?.time;
  const ok =
    end?.ok === true &&
    (buildEnd?.ok ?? true) &&
    tests.every((test) => test.ok || test.skipped !== undefined);
  const stages = (context?.stages ?? [{ name: "", steps: stepList.map((step) => step.name) }]).map(
    (stage) => {
      const members = stepList.filter(
        (step) => step.stage === stage.name || (stage.name === "" && step.stage === ""),
      );
      const starts = members
        .filter((step) => step.status !== "cached" && step.start !== undefined)
        .map((step) => step.start as number);
      const ends = members
        .filter((step) => step.status !== "cached" && step.end !== undefined)
        .map((step) => step.end as number);
      return {
        name: stage.name,
        ...(stage.description === undefined ? {} : { description: stage.description }),
        stepMs: members.reduce((sum, step) => sum + step.ms, 0),
        wallMs: starts.length > 0 && ends.length > 0 ? Math.max(...ends) - Math.min(...starts) : 0,
        built: members.filter((step) => step.status === "built").length,
        cached: members.filter((step) => step.status === "cached").length,
        failed: members.filter((step) => step.status === "failed").length,
        interrupted: members.filter((step) => step.status === "interrupted").length,
      };
    },
  );
  const { path: criticalPath, ms: criticalMs } = criticalPathOf(stepList, context);

  return {
    // A run that ended before it started building (a fetch that failed) has its id at its end.
    runId: startEvent?.type === "run:start" ? startEvent.runId : (end?.runId ?? "unknown"),
    ...(startEvent?.type === "run:start" ? { runDir: startEvent.runDir } : {}),
    ...(context === undefined ? {} : { context }),
    // From the session's first event (host tools, fetching come before run:start): as the terminal says.
    started: opened,
    ...(ended === undefined ? {} : { ended }),
    totalMs: end?.ms ?? Math.max(ended ?? last, last) - opened,
    buildMs: Math.max(0, ...stepList.map((step) => step.end ?? 0)),
    ok,
    interrupted: end?.interrupted === true,
    ...(error ? { error } : {}),
    unfinished: end === undefined,
    steps: stepList,
    stages,
    criticalPath,
    criticalMs,
    images: [...images.values()],
    tests,
    ...(accel === undefined ? {} : { accel }),
    unobtained: [...tried].filter((sha256) => !fetched.some((item) => item.sha256 === sha256)),
    ...(servedFrom === undefined ? {} : { servedFrom }),
    consoleLogs,
    fetched,
    toolsRun,
  };
}

/** The run's error as its journal has it; one of another shape (a journal edited by hand) is none. */
function runErrorIn(end: Extract<TimedEvent, { type: "run:end" }> | undefined): RunError | undefined {
  const error: unknown = end?.error;
  if (typeof error !== "object" || error === null) return undefined;
  const { code, message, details, hint } = error as Record<string, unknown>;
  if (typeof message !== "string") return undefined;
  return {
    code: typeof code === "string" ? code : "ERR_UNKNOWN",
    message,
    ...(Array.isArray(details) ? { details: details.map(String) } : {}),
    ...(typeof hint === "string" ? { hint } : {}),
  };
}

/**
 * The chain of dependent steps that took longest in this run: what bounded its wall time. Cached steps
 * take no time and keep no step waiting (they are done when the run starts), so chains run through
 * built and failed steps only; a run where everything is cached has no critical path.
 */
export function criticalPathOf(
  steps: readonly StepRecord[],
  context: RunContext | undefined,
): { path: string[]; ms: number } {
  const ran = steps.filter((step) => step.status !== "cached");
  if (ran.length === 0) return { path: [], ms: 0 };
  const deps = new Map(context?.steps.map((step) => [step.name, step.deps]) ?? []);
  const byName = new Map(ran.map((step) => [step.name, step]));
  const best = new Map<string, { ms: number; path: string[] }>();
  // Plans are acyclic (the loader refuses cycles); `visiting` only keeps a damaged journal from looping.
  const visiting = new Set<string>();
  const visit = (name: string): { ms: number; path: string[] } => {
    const known = best.get(name);
    if (known) return known;
    visiting.add(name);
    let longest = { ms: 0, path: [] as string[] };
    for (const dep of deps.get(name) ?? []) {
      if (visiting.has(dep) || !byName.has(dep)) continue;
      const candidate = visit(dep);
      if (candidate.ms > longest.ms) longest = candidate;
    }
    visiting.delete(name);
    const result = { ms: longest.ms + (byName.get(name)?.ms ?? 0), path: [...longest.path, name] };
    best.set(name, result);
    return result;
  };
  let winner = { ms: 0, path: [] as string[] };
  for (const step of ran) {
    const candidate = visit(step.name);
    if (candidate.ms > winner.ms) winner = candidate;
  }
  return { path: winner.path.filter((name) => (byName.get(name)?.ms ?? 0) > 0), ms: winner.ms };
}

/** A file of the run as its reports name it: relative, so that a copied run folder keeps its links. */
export function runRelative(path: string, report: RunReport): string {
  return report.runDir && path.startsWith(`${report.runDir}/`) ? path.slice(report.runDir.length + 1) : path;
}

/**
 * A module's name for people: its path in the plan without `tests/` and `.test.ts` ("tests/boot.test.ts"
 * is boot, "tests/a/boot.test.ts" a/boot), so that two modules of one name in two folders stay two.
 */
export function moduleStem(module: string): string {
  return module.replace(/^(\.\/)?tests\//, "").replace(/(\.test)?\.ts$/, "");
}

/** A test as the terminal names it: its module (as moduleStem gives it) and its name. */
export function testTitle(test: TestRecord): string {
  return test.module === undefined ? test.test : `${moduleStem(test.module)} › ${test.test}`;
}

/** Passed, failed and skipped tests: a skipped test is neither of the others. */
export function testCounts(tests: readonly TestRecord[]): {
  passed: number;
  failed: number;
  skipped: number;
} {
  const skipped = tests.filter((test) => test.skipped !== undefined).length;
  const passed = tests.filter((test) => test.ok).length;
  return { passed, failed: tests.length - passed - skipped, skipped };
}

export interface SourceRow {
  sha256: string;
  /** The names the plan gives it (two steps may pin one file under two names). */
  files: string[];
  steps: string[];
  /** Where the plan says it comes from: URLs, Debian packages. */
  from: string[];
  /** Where this run fetched it from, when it did. */
  fetchedFrom?: string;
  /** This run tried to fetch it and could not. */
  unobtained?: true;
  /** How it came into the store before this run, when the store kept a note. */
  origin?: { how: "fetched" | "imported"; from: string; at: string };
}

/** How the row's file was obtained, by this run or, as the store noted, before it. */
export function obtainedText(row: SourceRow): string {
  if (row.fetchedFrom !== undefined) return `fetched by this run from ${row.fetchedFrom}`;
  if (row.unobtained) return "could not be obtained";
  if (row.origin)
    return `${row.origin.how} from ${row.origin.from} (${row.origin.at.slice(0, 10)}), before this run`;
  return "not fetched by this run";
}

/** The sources of the run's steps, one row per file. */
export function sourcesOf(report: RunReport): SourceRow[] {
  const rows = new Map<string, { files: Set<string>; steps: string[]; from: Set<string> }>();
  for (const step of report.context?.steps ?? []) {
    for (const source of step.sources ?? []) {
      const row = rows.get(source.sha256) ?? { files: new Set<string>(), steps: [], from: new Set<string>() };
      row.files.add(source.file);
      row.steps.push(step.name);
      if (source.url) row.from.add(source.url);
      if (source.debian) row.from.add(`debian ${source.debian}`);
      rows.set(source.sha256, row);
    }
  }
  // By content: two versions of one file name are two sources.
  const fetched = new Map(report.fetched.map((item) => [item.sha256, item.from]));
  const origins = report.context?.sourceOrigins;
  return [...rows].map(([sha256, row]) => {
    const files = [...row.files];
    const fetchedFrom = fetched.get(sha256);
    // A hand-edited journal's note of another shape is none.
    const origin = typeof origins === "object" && origins !== null ? origins[sha256] : undefined;
    const knownOrigin =
      typeof origin?.from === "string" && typeof origin.at === "string" && typeof origin.how === "string";
    return {
      sha256,
      files,
      steps: row.steps,
      from: [...row.from],
      ...(fetchedFrom === undefined ? {} : { fetchedFrom }),
      ...(report.unobtained.includes(sha256) ? { unobtained: true as const } : {}),
      ...(fetchedFrom === undefined && knownOrigin ? { origin } : {}),
    };
  });
}
