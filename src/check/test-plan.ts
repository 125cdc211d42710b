/**
 * `rootstock test` as a library call: in one run, build the steps the tested images need (and their
 * kernel), make the images, boot each and run its tests, then end the run, which writes report.md and
 * report.html with the tests in them. Results also go to `junit.xml`, `results.json` and each machine's
 * `IMAGE/MODULE/console.log` in the run folder. An image with `[netboot] tests` is made into its
 * netboot bundle, served on this host's loopback for the run, and its machines boot from it over the
 * network as any machine would.
 */
import type { RunResult } from "../build/run-plan.ts";
import { RunSession } from "../build/run-session.ts";
import { errorText, isRootstockError, RootstockError } from "../errors.ts";
import type { Emit } from "../events.ts";
import type { ToolIdentity } from "../host/tools.ts";
import type { BuiltImage } from "../image/build-image.ts";
import { buildPlanImages, hostTools } from "../image/build-plan-images.ts";
import { buildNetbootBundle, type NetbootBundle } from "../netboot/build-bundle.ts";
import { bundleEntries } from "../netboot/bundle-entries.ts";
import { type BundleServer, startBundleServer } from "../netboot/bundle-server.ts";
import { imageInitramfs } from "../netboot/image-initramfs.ts";
import { netbootTestTarget } from "../netboot/netboot-machine.ts";
import { type NetbootImage, netbootImage, netbootInputs, netbootSteps } from "../netboot/plan-netboot.ts";
import { checkNetbootKernel } from "../netboot/prepare-netboot.ts";
import type { Graph } from "../plan/graph.ts";
import { narrowGraph } from "../plan/narrow-graph.ts";
import { openPlan } from "../plan/open.ts";
import type { Value } from "../plan/predicate.ts";
import { didYouMean } from "../plan/suggest.ts";
import type { WrittenReports } from "../report/write-reports.ts";
import { pathWord } from "../units.ts";
import type { Accelerator } from "../vm/qemu-args.ts";
import {
  bootFromPlan,
  checkBootableArch,
  imagesToBoot,
  stepsToBoot,
  testedImages,
} from "./boot-from-plan.ts";
import { renderJunit, type TestCaseResult } from "./junit.ts";
import { runTests, type TestRunResult, type TestTarget } from "./run-tests.ts";

const { availableParallelism } = process.getBuiltinModule("node:os");
const { join } = process.getBuiltinModule("node:path");
const { readdir, writeFile } = process.getBuiltinModule("node:fs/promises");
const { existsSync } = process.getBuiltinModule("node:fs");

export interface TestPlanOptions {
  /** The options the command was given, for the report's command line. */
  commandOptions?: readonly string[];
  storeDir: string;
  /** The images to test, in this order (default: every image whose boot table lists tests). */
  images?: readonly string[];
  /** Plan variables (`--set`), when the plan is given as a folder. */
  variables?: Record<string, Value>;
  /** Steps built at once (default: the number of cores). */
  jobs?: number;
  emit?: Emit;
  signal?: AbortSignal;
  /** Fetch nothing: sources missing from the store are listed in one error. */
  offline?: boolean;
  mirrors?: readonly string[];
  /** Host tool identities already found, when the plan is given as a graph. */
  tools?: ReadonlyMap<string, ToolIdentity | undefined>;
  /** Default auto: KVM when the probe says it works, else TCG. */
  accel?: Accelerator | "auto";
  /** The command the run is recorded as (default "test"; the demo says "demo"). */
  command?: string;
  /** Test machines running at once (default: the number of cores). */
  machines?: number;
  /** How long one test case may take (default 30 minutes). */
  testTimeoutMs?: number;
}

export interface TestPlanResult {
  /** Everything built, every image made, every test passed. */
  ok: boolean;
  runId: string;
  runDir: string;
  build: RunResult;
  images: Map<string, BuiltImage>;
  /** The tests' results; undefined when the build failed and nothing booted. */
  tests?: TestRunResult;
  /** JUnit XML of the run: the tests', or, when the build failed, one failed case that says so. */
  junit?: string;
  /** The failed test cases, each with its machine's console log. */
  failures: TestCaseResult[];
  /** Of the images tested, those booted from their netboot bundle: the name their results carry, and the image's. */
  netbooted?: Map<string, string>;
  reports?: WrittenReports;
}

export async function testPlan(plan: string | Graph, options: TestPlanOptions): Promise<TestPlanResult> {
  const opened =
    typeof plan === "string"
      ? await openPlan(plan, {
          ...(options.variables ? { variables: options.variables } : {}),
          cacheDir: join(options.storeDir, "cache"),
        })
      : undefined;
  const graph = opened?.graph ?? (plan as Graph);
  checkBootableArch(graph.plan);
  const { booted: names, netbooted } = imagesToTest(graph, options.images);
  const netImages = netbooted.map((name) => netbootImage(graph.plan, name));
  const bootImages = [...new Set([...names.flatMap((name) => imagesToBoot(graph.plan, name)), ...netbooted])];
  const bootSteps = [
    ...names.flatMap((name) => stepsToBoot(graph.plan, name)),
    ...netImages.flatMap((image) => netbootSteps(graph.plan, image)),
  ];
  for (const name of names)
    narrowGraph(graph, stepsToBoot(graph.plan, name), { neededBy: `the boot of image ${name}` });
  for (const image of netImages)
    narrowGraph(graph, netbootSteps(graph.plan, image), { neededBy: `the netboot of image ${image.name}` });
  const needed = narrowGraph(graph, bootSteps);
  const tools = opened?.tools ?? options.tools ?? (await hostTools(needed, options.storeDir));
  const jobs = options.jobs ?? availableParallelism();
  const session = await RunSession.open(needed, {
    storeDir: options.storeDir,
    command: options.command ?? "test",
    ...(options.commandOptions ? { options: options.commandOptions } : {}),
    ...(options.images && options.images.length > 0 ? { targets: options.images } : {}),
    jobs,
    tools,
    ...(options.emit ? { emit: options.emit } : {}),
  });
  const interrupted = () => options.signal?.aborted ?? false;
  const servers: BundleServer[] = [];
  try {
    const made = await buildPlanImages(needed, {
      storeDir: options.storeDir,
      images: bootImages,
      alsoBuild: bootSteps,
      session,
      jobs,
      tools,
      offline: options.offline ?? false,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.mirrors ? { mirrors: options.mirrors } : {}),
    });
    const result = {
      runId: session.runId,
      runDir: session.runDir,
      build: made.build,
      images: made.images,
    };
    if (!made.ok) {
      const failed = made.build.failed;
      const junit = await writeBuildFailureJunit(session.runDir, {
        message: interrupted()
          ? "the run was interrupted before the boot tests"
          : failed.length > 0
            ? `the build failed before the boot tests: ${failed.length} step${failed.length === 1 ? "" : "s"} failed: ${failed.join(", ")}`
            : "the build or an image failed before the boot tests",
        interrupted: interrupted(),
      });
      const reports = await session.close({ ok: false, interrupted: interrupted() });
      return { ...result, ok: false, failures: [], junit, ...(reports ? { reports } : {}) };
    }
    const outputs = Object.fromEntries([...made.build.outputs].map(([step, output]) => [step, output.path]));
    const machineOptions = {
      probeMemoryFile: join(options.storeDir, "cache", "kvm-probe.json"),
      ...(options.accel ? { accel: options.accel } : {}),
    };
    const targets: TestTarget[] = names.map((name) => {
      const boot = bootFromPlan(graph.plan, name, { outputs: made.build.outputs, images: made.images });
      return { image: name, machine: { ...boot.machine, ...machineOptions }, modules: boot.tests, outputs };
    });
    const netbooted = new Map<string, string>();
    for (const image of netImages) {
      const served = await serveForTests(image, graph, made, session, servers, options.signal);
      const target = netbootTestTarget(graph.plan, image, served);
      // An image booted both ways needs two names: results and console logs are filed by image.
      const name = names.includes(image.name) ? `${image.name}-netboot` : image.name;
      netbooted.set(name, image.name);
      targets.push({ ...target, image: name, machine: { ...target.machine, ...machineOptions }, outputs });
    }
    const tests = await runTests(targets, {
      runDir: session.runDir,
      emit: session.emit,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.machines === undefined ? {} : { machines: options.machines }),
      ...(options.testTimeoutMs === undefined ? {} : { testTimeoutMs: options.testTimeoutMs }),
    });
    const reports = await session.close({ ok: tests.ok, interrupted: interrupted() });
    return {
      ...result,
      ok: tests.ok,
      tests,
      failures: tests.cases.filter((test) => test.status === "failed"),
      netbooted,
      ...(reports ? { reports } : {}),
    };
  } catch (error) {
    // An image that cannot be made, sources that cannot be had: CI still finds a junit.xml that says so.
    if (!existsSync(join(session.runDir, "junit.xml"))) {
      const why = isRootstockError(error) ? error.headline : "an error stopped the run";
      await writeBuildFailureJunit(session.runDir, {
        message: interrupted()
          ? "the run was interrupted before the boot tests"
          : `before the boot tests: ${why}`,
        interrupted: interrupted(),
        ...(isRootstockError(error) ? { error } : {}),
      }).catch(() => {});
    }
    return await session.closeWithError(error, interrupted());
  } finally {
    for (const server of servers) await server.close();
  }
}

/**
 * Makes a netboot image's bundle in the run (gc keeps it with the run) and serves it on this host's
 * loopback, which QEMU's user network reaches as 10.0.2.2, until the tests end.
 */
async function serveForTests(
  image: NetbootImage,
  graph: Graph,
  made: { build: RunResult; images: Map<string, BuiltImage> },
  session: RunSession,
  servers: BundleServer[],
  signal: AbortSignal | undefined,
): Promise<{ port: number; bundle: NetbootBundle }> {
  checkNetbootKernel(graph.plan, image, made.build);
  const squashfs = made.images.get(image.name) as BuiltImage;
  const inputs = netbootInputs(graph.plan, image, {
    outputDir: (step) => made.build.outputs.get(step)?.path as string,
    squashfs: { path: squashfs.path, sha256: squashfs.sha256 },
  });
  const bundle = await buildNetbootBundle(inputs, {
    storeDir: session.storeDir,
    initramfs: imageInitramfs({
      storeDir: session.storeDir,
      register: (key) => session.useEntries("image", { [`${image.name}:ram-root`]: key }),
    }),
    register: (key) => session.useEntries("netboot", { [image.name]: key }),
    emit: session.emit,
    ...(signal === undefined ? {} : { signal }),
  });
  const server = await startBundleServer(bundleEntries(bundle), { host: "127.0.0.1", port: 0 });
  servers.push(server);
  return { port: server.port, bundle };
}

/**
 * The images asked for, or every image with tests: those booted from their [boot] table, and those
 * netbooted from their [netboot] table. Each must exist, boot, and list tests.
 */
export function imagesToTest(
  graph: Graph,
  asked: readonly string[] | undefined,
): { booted: string[]; netbooted: string[] } {
  const plan = graph.plan;
  const tested = testedImages(plan);
  const netTested = [...plan.images.values()]
    .filter((image) => (image.netboot?.tests.length ?? 0) > 0)
    .map((image) => image.name);
  const file = join(plan.displayDir, "plan.toml");
  if (asked === undefined || asked.length === 0) {
    if (tested.length === 0 && netTested.length === 0) {
      throw new RootstockError("ERR_TEST_NO_TESTS", `plan ${plan.name} has no boot tests`, {
        file,
        hint: 'list test modules in an image\'s boot or netboot table: [images.NAME.boot] tests = ["tests/boot.test.ts"] (see docs/plans.md, "Boot tests")',
      });
    }
    return { booted: tested, netbooted: netTested };
  }
  const unique = [...new Set(asked)];
  const withTests = [...tested, ...netTested.filter((name) => !tested.includes(name))];
  for (const name of unique) {
    if (netTested.includes(name)) continue;
    if (!plan.images.has(name)) {
      throw new RootstockError("ERR_IMAGE_UNKNOWN", `plan ${plan.name} has no image "${name}"`, {
        file,
        hint: didYouMean(name, plan.images.keys()) || `images with tests: ${withTests.join(", ") || "none"}`,
      });
    }
    if (!plan.images.get(name)?.netboot) imagesToBoot(plan, name); // not bootable: an error with a hint
    if (!tested.includes(name)) {
      throw new RootstockError("ERR_TEST_NO_TESTS", `image "${name}" has no tests`, {
        file,
        field: `images.${name}.${plan.images.get(name)?.netboot ? "netboot" : "boot"}.tests`,
        hint:
          withTests.length > 0
            ? `images with tests: ${withTests.join(", ")}; or boot this one by hand: ${plan.images.get(name)?.netboot ? `rootstock netboot ${pathWord(plan.displayDir)} ${name} serves it` : `rootstock boot ${pathWord(plan.displayDir)} ${name}`}`
            : `list test modules: tests = ["tests/boot.test.ts"]`,
      });
    }
  }
  return {
    booted: unique.filter((name) => tested.includes(name)),
    netbooted: unique.filter((name) => netTested.includes(name)),
  };
}

/**
 * A CI system reads junit.xml to learn how a run went: when the build failed before any machine booted,
 * it holds one case, the build, failed (or skipped, when the run was interrupted).
 */
async function writeBuildFailureJunit(
  runDir: string,
  { message, interrupted, error }: { message: string; interrupted: boolean; error?: RootstockError },
): Promise<string> {
  const junit = join(runDir, "junit.xml");
  // The logs are worth naming only when a step wrote one (sources that could not be had stop a run first).
  const logs = join(runDir, "logs");
  const logged = (await readdir(logs).catch(() => [])).length > 0;
  await writeFile(
    junit,
    renderJunit([
      {
        image: "build",
        module: "rootstock",
        name: "build and images",
        status: interrupted ? "skipped" : "failed",
        ms: 0,
        message,
        type: interrupted ? "ERR_INTERRUPTED" : (error?.code ?? "ERR_RUN_FAILED"),
        details: [
          error ? errorText(error) : message,
          ...(logged ? [`the step logs are in ${logs}`] : []),
        ].join("\n"),
      },
    ]),
  );
  return junit;
}
