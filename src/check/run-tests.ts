/**
 * Runs boot tests: for each test module of each image, one machine, its cases in order. The first
 * failure of a module skips the rest of it (they share the machine's state); the machine is stopped
 * whatever happens. Modules share nothing, so their machines run side by side, one per core by
 * default (a TCG guest keeps one core busy). Results go to events, `junit.xml` and `results.json` in
 * the run folder, in the order the modules are listed, with one console log per machine.
 */
import { isRootstockError, RootstockError } from "../errors.ts";
import { type Emit, INTERRUPTED, ignoreEvents } from "../events.ts";
import { inParallel } from "../in-parallel.ts";
import { formatDuration, monotonicMs } from "../units.ts";
import { renderJunit, type TestCaseResult } from "./junit.ts";
import { callSites, Machine, type MachineOptions } from "./machine.ts";
import { isStray, StrayRejections } from "./stray-rejections.ts";
import { loadTestModule, type TestCase, type TestContext } from "./test-module.ts";

const { existsSync } = process.getBuiltinModule("node:fs");
const { mkdir, writeFile } = process.getBuiltinModule("node:fs/promises");
const { availableParallelism } = process.getBuiltinModule("node:os");
const { join } = process.getBuiltinModule("node:path");
const { pathToFileURL } = process.getBuiltinModule("node:url");

export interface TestTarget {
  /** The image under test (a suite name in the results). */
  image: string;
  /** How to boot it: kernel, initrd, disks, cmdline, prompt, fatal patterns, timeouts. */
  machine: Omit<MachineOptions, "name" | "runDir" | "emit" | "signal">;
  modules: { path: string; display: string }[];
  /** Step output folders the tests may read (TestContext.outputs); default none. */
  outputs?: Readonly<Record<string, string>>;
}

export interface RunTestsOptions {
  /** Where results and each machine's files go. */
  runDir: string;
  emit?: Emit;
  signal?: AbortSignal;
  /** Machines running at once (default: the number of cores). */
  machines?: number;
  /** How long one test case may take before it fails (default TEST_TIMEOUT_MS). */
  testTimeoutMs?: number;
}

/** Longer than any command's default (5 minutes) many times over: a limit for a test that never settles. */
export const TEST_TIMEOUT_MS = 30 * 60_000;

export interface TestRunResult {
  ok: boolean;
  cases: TestCaseResult[];
  runDir: string;
  junit: string;
  ms: number;
}

export async function runTests(
  targets: readonly TestTarget[],
  options: RunTestsOptions,
): Promise<TestRunResult> {
  const emit = options.emit ?? ignoreEvents;
  const started = monotonicMs();
  await mkdir(options.runDir, { recursive: true });
  // Each module's machine gets a folder of its own: two names that read alike there (`a b.test.ts` and
  // `a-b.test.ts`, `x.ts` and `x.test.ts`) are told apart by a number.
  const taken = new Set<string>();
  const modules = targets.flatMap((target) =>
    target.modules.map((module) => {
      const base = moduleSlug(module.display);
      let slug = base;
      for (let count = 2; taken.has(`${target.image}/${slug}`); count++) slug = `${base}-${count}`;
      taken.add(`${target.image}/${slug}`);
      return { target, module, slug };
    }),
  );
  const byModule: TestCaseResult[][] = [];
  const strays = new StrayRejections();
  // No signal here: after a cancel, each module still records its cases as skipped.
  try {
    await inParallel(
      modules,
      options.machines ?? availableParallelism(),
      async ({ target, module, slug }, index) => {
        byModule[index] = await runModule(target, module, slug, options, emit, strays);
      },
    );
  } finally {
    strays.close();
  }
  const cases = byModule.flat();
  const junit = join(options.runDir, "junit.xml");
  await writeFile(junit, renderJunit(cases));
  await writeFile(join(options.runDir, "results.json"), `${JSON.stringify(cases, null, 2)}\n`);
  const count = (status: TestCaseResult["status"]) =>
    cases.filter((result) => result.status === status).length;
  const ms = Math.round(monotonicMs() - started);
  const ok = count("failed") === 0 && cases.length > 0 && !options.signal?.aborted;
  emit({
    type: "test:summary",
    ok,
    ...(options.signal?.aborted ? { interrupted: true as const } : {}),
    passed: count("passed"),
    failed: count("failed"),
    skipped: count("skipped"),
    ms,
    runDir: options.runDir,
    junit,
  });
  return { ok, cases, runDir: options.runDir, junit, ms };
}

async function runModule(
  target: TestTarget,
  module: { path: string; display: string },
  slug: string,
  options: RunTestsOptions,
  emit: Emit,
  strays: StrayRejections,
): Promise<TestCaseResult[]> {
  const machineDir = join(options.runDir, target.image, slug);
  const consoleLog = join(machineDir, "console.log");
  // Named only once there: a machine that never started wrote none, and a report must not link to it.
  const logged = () => (existsSync(consoleLog) ? { consoleLog } : {});
  const base = { image: target.image, module: module.display };
  let tests: TestCase[];
  try {
    tests = await loadTestModule(module.path, module.display);
  } catch (error) {
    const failure = describeFailure(error, module);
    // Named after its module: a summary of failures lists modules that did not load apart.
    const name = `(loading ${module.display})`;
    emit({ type: "test:start", ...base, test: name });
    emit({ type: "test:done", ...base, test: name, ok: false, ms: 0, error: failure.details });
    return [{ ...base, name, status: "failed", ms: 0, ...failure }];
  }

  const machine = new Machine({
    ...target.machine,
    name: `${target.image}-${slug}`,
    runDir: machineDir,
    emit,
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  const context: TestContext = { image: target.image, outputs: target.outputs ?? {} };
  const results: TestCaseResult[] = [];
  let skipReason: string | undefined;
  strays.follow(machine.name);
  try {
    for (const test of tests) {
      if (options.signal?.aborted) skipReason ??= INTERRUPTED;
      if (skipReason !== undefined) {
        emit({ type: "test:skipped", ...base, test: test.name, reason: skipReason });
        results.push({
          ...base,
          name: test.name,
          status: "skipped",
          ms: 0,
          message: skipReason,
          ...logged(),
        });
        continue;
      }
      emit({ type: "test:start", ...base, test: test.name });
      const testStarted = monotonicMs();
      const evidence = test.evidence.length > 0 ? { evidence: test.evidence } : {};
      try {
        // A promise the test forgot to await that rejects meanwhile fails it (an earlier one, the next).
        const stray = strays.next(machine.name);
        const limit = settleWithin(options.testTimeoutMs ?? TEST_TIMEOUT_MS, machine.name, test.name);
        try {
          await untilAborted(
            Promise.race([Promise.resolve(test.run(machine, context)), stray.rejected, limit.expired]),
            options.signal,
          );
        } finally {
          stray.done();
          limit.clear();
        }
        const ms = Math.round(monotonicMs() - testStarted);
        emit({ type: "test:done", ...base, test: test.name, ok: true, ms, ...logged(), ...evidence });
        results.push({ ...base, name: test.name, status: "passed", ms, ...logged() });
      } catch (error) {
        const ms = Math.round(monotonicMs() - testStarted);
        if (options.signal?.aborted) {
          // Stopped by the person, not failed: the machine went away under it.
          emit({ type: "test:skipped", ...base, test: test.name, reason: INTERRUPTED });
          results.push({
            ...base,
            name: test.name,
            status: "skipped",
            ms,
            message: INTERRUPTED,
            ...logged(),
          });
          skipReason = INTERRUPTED;
          continue;
        }
        const failure = describeFailure(error, module);
        emit({
          type: "test:done",
          ...base,
          test: test.name,
          ok: false,
          ms,
          error: failure.details,
          ...logged(),
          ...evidence,
        });
        results.push({ ...base, name: test.name, status: "failed", ms, ...logged(), ...failure });
        skipReason = `an earlier test of ${module.display} failed: ${test.name}`;
      }
    }
  } finally {
    await machine.stop();
    for (const left of strays.unfollow(machine.name)) {
      // Rejected after the module's last test: charged to the module as a case of its own.
      const name = `(after the tests of ${module.display})`;
      const failure = describeFailure(left, module);
      emit({ type: "test:start", ...base, test: name });
      emit({ type: "test:done", ...base, test: name, ok: false, ms: 0, error: failure.details, ...logged() });
      results.push({ ...base, name, status: "failed", ms: 0, ...logged(), ...failure });
    }
  }
  return results;
}

/** The test module's line in the error's stack (its file, as the plan names it, with line and column). */
function testLine(error: Error, module: { path: string; display: string }): string | undefined {
  const url = pathToFileURL(module.path).href;
  for (const line of [error.stack ?? "", ...(callSites.get(error) ?? [])].join("\n").split("\n")) {
    const found = line.indexOf(url);
    if (found < 0) continue;
    const position = /^:(\d+):(\d+)/.exec(line.slice(found + url.length));
    if (position) return `${module.display}:${position[1]}:${position[2]}`;
  }
  return undefined;
}

/** The folder name of a module's machine: `tests/boot.test.ts` is `boot`. */
function moduleSlug(display: string): string {
  return display
    .replace(/^tests\//, "")
    .replace(/(\.test)?\.ts$/, "")
    .replace(/[^A-Za-z0-9._-]+/g, "-");
}

/**
 * Rejects when a test has run for `ms`: one that awaits what never comes would otherwise hold the run
 * for good. Its code is left behind; its machine is stopped with its module, whose later tests are skipped.
 */
function settleWithin(
  ms: number,
  machine: string,
  test: string,
): { expired: Promise<never>; clear: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new RootstockError(
            "ERR_CHECK_TEST_TIMEOUT",
            `${machine}: test "${test}" did not end within ${formatDuration(ms)}`,
            {
              hint: "it awaits something that never comes (a promise nobody resolves, a wait with no timeout of its own); a test that needs longer: rootstock test --test-timeout DURATION",
            },
          ),
        ),
      ms,
    );
  });
  return { expired, clear: () => clearTimeout(timer) };
}

/**
 * A test's own promise, or the interruption, whichever comes first: a test that never settles (its
 * own bug) must not keep Ctrl-C from ending the run. Its code is left behind, its machine stopped.
 */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return work;
  return new Promise<T>((resolve, reject) => {
    const stop = () => reject(signal.reason);
    if (signal.aborted) return stop();
    signal.addEventListener("abort", stop, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", stop));
  });
}

function describeFailure(
  error: unknown,
  module: { path: string; display: string },
): { message: string; type: string; details: string } {
  if (isRootstockError(error)) {
    // Where in the test it was called (the Machine API's errors carry no stack a person reads), and
    // whether the test awaited it.
    const at = testLine(error, module);
    const stray = isStray(error)
      ? "a call a test did not await failed (in this test or one before it): "
      : "";
    const headline = `${stray}${error.headline}${at ? `\n  at ${at}` : ""}`;
    const details = error.hint ? `${headline}\nhint: ${error.hint}` : headline;
    return { message: headline, type: error.code, details };
  }
  if (error instanceof Error) {
    const at = testLine(error, module);
    return {
      message: error.message,
      type: error.name,
      details: `${error.stack ?? error.message}${at && !(error.stack ?? "").includes(at) ? `\n  at ${at}` : ""}`,
    };
  }
  return { message: String(error), type: "Error", details: String(error) };
}
