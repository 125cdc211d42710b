/**
 * A plan's images from nothing: the steps they hold are built (`runPlan`), then the images
 * (`buildImage`), in one run whose journal and reports tell both. Only the steps the images need are
 * built. Each image's key is listed in the run before the store is looked at, so that gc keeps it.
 */
import { type RunResult, runPlan } from "../build/run-plan.ts";
import { RunSession } from "../build/run-session.ts";
import { describeCause, isRootstockError, RootstockErrors } from "../errors.ts";
import type { Emit } from "../events.ts";
import { identifyToolsCached } from "../host/tool-cache.ts";
import type { ToolIdentity } from "../host/tools.ts";
import { type Graph, usesHostTools } from "../plan/graph.ts";
import { narrowGraph } from "../plan/narrow-graph.ts";
import type { WrittenReports } from "../report/write-reports.ts";
import { type BuiltImage, buildImage, missingImageTools } from "./build-image.ts";
import { imageSpecFromPlan, imageSteps } from "./image-spec-from-plan.ts";

const { availableParallelism } = process.getBuiltinModule("node:os");
const { join } = process.getBuiltinModule("node:path");

export interface BuildPlanImagesOptions {
  /** The options the command was given, for the report's command line. */
  commandOptions?: readonly string[];
  storeDir: string;
  /** The images to make, in this order (default: every image of the plan). */
  images?: readonly string[];
  /** Steps to build besides the images' contents (the kernel, for a boot). */
  alsoBuild?: readonly string[];
  /**
   * The run this is part of (`rootstock test` boots the images next); its graph must hold the steps.
   * Default: a run of its own, of command `command`, closed at the end.
   */
  session?: RunSession;
  /** The command a run of its own is for (default "image"). */
  command?: string;
  /** Steps built at once (default: the number of cores). */
  jobs?: number;
  keepGoing?: boolean;
  emit?: Emit;
  signal?: AbortSignal;
  /** Fetch nothing: sources missing from the store are listed in one error. */
  offline?: boolean;
  mirrors?: readonly string[];
  /** Host tool identities already found (openPlan's); found again (from the store's cache) if absent. */
  tools?: ReadonlyMap<string, ToolIdentity | undefined>;
}

export interface PlanImages {
  runId: string;
  runDir: string;
  /** Every step built and every image made. */
  ok: boolean;
  build: RunResult;
  /** The images made, by name, in the order asked; none when the build failed. */
  images: Map<string, BuiltImage>;
  /** The run's reports, when this call ended the run. */
  reports?: WrittenReports;
}

export async function buildPlanImages(graph: Graph, options: BuildPlanImagesOptions): Promise<PlanImages> {
  const plan = graph.plan;
  const names = options.images ?? [...plan.images.keys()];
  const needed = neededGraph(graph, names, options.alsoBuild ?? []);
  const missing = missingImageTools(names.flatMap((name) => plan.images.get(name) ?? []));
  if (missing.length > 0)
    throw new RootstockErrors(
      "ERR_HOST_TOOLS_MISSING",
      `the host lacks ${missing.length === 1 ? "a tool" : "tools"} to make the images; nothing was built`,
      missing,
      { hint: "run `rootstock doctor --install` (as root), which installs every package named here" },
    );
  const session =
    options.session ??
    (await RunSession.open(needed, {
      storeDir: options.storeDir,
      command: options.command ?? "image",
      ...(options.commandOptions ? { options: options.commandOptions } : {}),
      // The images named on the command line, for the report's command to run again.
      ...(options.images && options.images.length > 0 ? { targets: options.images } : {}),
      jobs: options.jobs ?? availableParallelism(),
      tools: options.tools ?? (await hostTools(needed, options.storeDir)),
      ...(options.emit ? { emit: options.emit } : {}),
    }));
  const own = options.session === undefined;
  const interrupted = () => options.signal?.aborted ?? false;
  try {
    const build = await runPlan(needed, {
      storeDir: options.storeDir,
      session,
      keepGoing: options.keepGoing ?? false,
      offline: options.offline ?? false,
      ...(options.jobs === undefined ? {} : { jobs: options.jobs }),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.mirrors ? { mirrors: options.mirrors } : {}),
      ...(options.tools ? { tools: options.tools } : {}),
    });
    const images = new Map<string, BuiltImage>();
    if (build.ok) {
      for (const name of names) {
        try {
          const spec = imageSpecFromPlan(plan, name, build.outputs);
          const image = await buildImage(spec, {
            storeDir: options.storeDir,
            emit: session.emit,
            register: (key) => session.useEntries("image", { [name]: key }),
            ...(options.signal ? { signal: options.signal } : {}),
          });
          images.set(name, image);
        } catch (error) {
          session.emit({
            type: "image:failed",
            image: name,
            error: options.signal?.aborted
              ? "interrupted"
              : isRootstockError(error)
                ? error.headline
                : describeCause(error),
            ...(options.signal?.aborted ? { interrupted: true as const } : {}),
          });
          throw error;
        }
      }
    }
    const ok = build.ok && images.size === names.length;
    const reports = own ? await session.close({ ok, interrupted: interrupted() }) : undefined;
    return {
      runId: session.runId,
      runDir: session.runDir,
      ok,
      build,
      images,
      ...(reports ? { reports } : {}),
    };
  } catch (error) {
    if (own) await session.closeWithError(error, interrupted());
    throw error;
  }
}

/** The graph cut to the images' steps (each image checked alone, so that an error names it). */
function neededGraph(graph: Graph, names: readonly string[], alsoBuild: readonly string[]): Graph {
  for (const name of names) narrowGraph(graph, imageSteps(graph.plan, [name]), { neededBy: `image ${name}` });
  return narrowGraph(graph, [...imageSteps(graph.plan, names), ...alsoBuild]);
}

/** The identities of the host tools the graph's steps may run, from the store's tool cache. */
export function hostTools(graph: Graph, storeDir: string): Promise<Map<string, ToolIdentity | undefined>> {
  const names = graph.steps.filter((step) => usesHostTools(step.step)).flatMap((step) => step.step.tools);
  return identifyToolsCached(names, { cacheFile: join(storeDir, "cache", "tools.json") });
}
