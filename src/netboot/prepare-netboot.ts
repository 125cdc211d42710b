/**
 * Everything `rootstock netboot` does before it serves: build the steps the netboot image needs, the
 * image's squashfs, and the bundle, all within one run, which lists the image and bundle keys so that
 * gc keeps them while the run is kept.
 */

import type { RunResult } from "../build/run-plan.ts";
import { runPlan } from "../build/run-plan.ts";
import type { RunSession } from "../build/run-session.ts";
import { checkKernelFile } from "../check/boot-from-plan.ts";
import { RootstockError } from "../errors.ts";
import type { ToolIdentity } from "../host/tools.ts";
import { type BuiltImage, buildImage } from "../image/build-image.ts";
import { imageSpecFromPlan } from "../image/image-spec-from-plan.ts";
import type { Graph } from "../plan/graph.ts";
import { type OpenedPlan, openPlan } from "../plan/open.ts";
import type { Value } from "../plan/predicate.ts";
import type { Plan } from "../plan/types.ts";
import { pathWord } from "../units.ts";
import { buildNetbootBundle, type NetbootBundle } from "./build-bundle.ts";
import { imageInitramfs } from "./image-initramfs.ts";
import {
  type NetbootImage,
  netbootImage,
  netbootInputs,
  netbootKernel,
  netbootSteps,
} from "./plan-netboot.ts";

export interface PrepareNetbootOptions {
  /** The run this is part of; its store is used and its events carry everything. */
  session: RunSession;
  /** The netboot image (default: the plan's only one). */
  image?: string;
  /** Steps built at once (default: the number of cores). */
  jobs?: number;
  tools?: ReadonlyMap<string, ToolIdentity | undefined>;
  /** Fetch nothing; missing sources are listed in one error. */
  offline?: boolean;
  mirrors?: readonly string[];
  signal?: AbortSignal;
}

export interface PreparedNetboot {
  image: NetbootImage;
  run: RunResult;
  squashfs: BuiltImage;
  bundle: NetbootBundle;
}

/** The steps to resolve the graph for: what the netboot image needs, and only that. */
export function netbootTargets(plan: Plan, image?: string): string[] {
  return netbootSteps(plan, netbootImage(plan, image));
}

export interface OpenNetbootOptions {
  /** The netboot image (default: the plan's only one). */
  image?: string;
  variables?: Record<string, Value>;
  /** The store's cache folder, for loaded plans and host-tool identities. */
  cacheDir?: string;
}

/** Opens a plan with only the steps its netboot image needs (loading it first to know which). */
export async function openNetbootPlan(dir: string, options: OpenNetbootOptions = {}): Promise<OpenedPlan> {
  const shared = {
    ...(options.variables === undefined ? {} : { variables: options.variables }),
    ...(options.cacheDir === undefined ? {} : { cacheDir: options.cacheDir }),
  };
  const { graph } = await openPlan(dir, { ...shared, identifyTools: false });
  return openPlan(dir, { ...shared, targets: netbootTargets(graph.plan, options.image) });
}

export async function prepareNetboot(graph: Graph, options: PrepareNetbootOptions): Promise<PreparedNetboot> {
  const { session, signal } = options;
  const { plan } = graph;
  const { storeDir } = session;
  const image = netbootImage(plan, options.image);
  const missing = netbootSteps(plan, image).filter((step) => !graph.byName.has(step));
  if (missing.length > 0) {
    throw new Error(`bug: the graph for netboot image ${image.name} lacks the steps ${missing.join(", ")}`);
  }

  const run = await runPlan(graph, {
    session,
    storeDir,
    emit: session.emit,
    ...(options.jobs === undefined ? {} : { jobs: options.jobs }),
    ...(options.tools === undefined ? {} : { tools: options.tools }),
    ...(options.offline === undefined ? {} : { offline: options.offline }),
    ...(options.mirrors === undefined ? {} : { mirrors: options.mirrors }),
    ...(signal === undefined ? {} : { signal }),
  });
  if (!run.ok) {
    if (signal?.aborted) {
      throw new RootstockError(
        "ERR_NETBOOT_INTERRUPTED",
        `the build for netboot image ${image.name} was interrupted`,
        {
          hint: "run the command again to carry on: committed steps are not built again",
        },
      );
    }
    const first = run.failed[0];
    throw new RootstockError(
      "ERR_NETBOOT_BUILD_FAILED",
      `the netboot image ${image.name} cannot be made: ${run.failed.length === 0 ? "the build stopped" : `${run.failed.length} step${run.failed.length === 1 ? "" : "s"} failed: ${run.failed.join(", ")}`}`,
      {
        hint:
          first === undefined
            ? "run the command again to carry on"
            : `read the log with \`rootstock log ${pathWord(plan.displayDir)} ${first}\`; committed steps are kept, so the next run carries on`,
      },
    );
  }

  checkNetbootKernel(plan, image, run);
  const squashfs = await buildImage(imageSpecFromPlan(plan, image.name, run.outputs), {
    storeDir,
    emit: session.emit,
    // Listed in the run before the store is looked at, so that gc cannot take it meanwhile.
    register: (key) => session.useEntries("image", { [image.name]: key }),
    ...(signal === undefined ? {} : { signal }),
  });

  const inputs = netbootInputs(plan, image, {
    outputDir: (step) => run.outputs.get(step)?.path as string,
    squashfs: { path: squashfs.path, sha256: squashfs.sha256 },
  });
  const bundle = await buildNetbootBundle(inputs, {
    storeDir,
    initramfs: imageInitramfs({
      storeDir,
      register: (key) => session.useEntries("image", { [`${image.name}:ram-root`]: key }),
    }),
    register: (key) => session.useEntries("netboot", { [image.name]: key }),
    emit: session.emit,
    ...(signal === undefined ? {} : { signal }),
  });
  return { image, run, squashfs, bundle };
}

/** A kernel.path that names no file in its step's output, or no kernel, said as test and boot say it. */
export function checkNetbootKernel(plan: Plan, image: NetbootImage, run: Pick<RunResult, "outputs">): void {
  const ref = netbootKernel(plan, image);
  const output = run.outputs.get(ref.step)?.path;
  if (output === undefined) return;
  checkKernelFile(plan, ref, output, {
    what: `netboot image "${image.name}"`,
    field: image.netboot.kernel ? `images.${image.name}.netboot.kernel.path` : "kernel.path",
  });
}
