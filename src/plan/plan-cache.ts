/**
 * Loads a plan from a cache when none of its files changed, so that a no-op run of a large plan does
 * not parse and hash every file again.
 *
 * The cache holds a listing of the whole plan folder: every entry's path, mode, size, inode, and
 * modification and change times (git's index does the same), plus the same for the loader's own source
 * files. A hit is checked by one lstat per listed entry, with no folder read: adding, removing or
 * renaming an entry changes its folder's times, which are listed too. Like git, it refuses to trust a
 * file changed within the last two seconds: a plan with such a file is loaded afresh and not cached, so
 * an edit that keeps size and timestamp within the filesystem's clock tick cannot go unseen.
 *
 * Beside the plan, the cache keeps its last few resolved graphs (steps in order, with keys), each for
 * the variables, targets and host tool identities it was resolved with: resolving computes four hashes
 * per step, most of a no-op run of a large plan once the plan itself comes from the cache.
 */
import type { Stats } from "node:fs";
import { writeFileAtomically } from "../atomic-write.ts";
import { canonicalJson, sha256Text } from "../digest.ts";
import { type Graph, type ResolvedStep, type ResolveOptions, resolveGraph } from "./graph.ts";
import type { LoadPlanOptions } from "./load.ts";
import { NAME_PATTERN } from "./names.ts";
import type { Image, Plan, Step } from "./types.ts";

const { lstatSync, mkdirSync, readdirSync, readFileSync } = process.getBuiltinModule("node:fs");
const { dirname, join, resolve } = process.getBuiltinModule("node:path");
const { fileURLToPath } = process.getBuiltinModule("node:url");

const RACY_MS = 2000;
const FORMAT = 3;
/** Resolved graphs kept per plan: the variants one works with (targets, --set), not every one ever. */
const GRAPHS_KEPT = 4;

/** What the plan's files looked like when it was cached. */
interface Listing {
  /** Names what was listed: the format and the plan's folder. */
  head: string;
  /** Absolute paths; entry i's signature is `signatures[i * SIGNATURE_LENGTH …]`. */
  paths: string[];
  signatures: number[];
}

/** Without its key inputs, which are most of the bytes and only read when a step is built or explained. */
type StoredStep = Omit<ResolvedStep, "step" | "inputs">;

interface StoredGraph {
  /** The resolve options, as canonical JSON. */
  options: string;
  variables: Graph["variables"];
  steps: StoredStep[];
  disabled: Graph["disabled"];
  digest: string;
}

interface CachedPlan {
  format: number;
  listing: Listing;
  plan: Omit<Plan, "steps" | "images"> & { steps: [string, Step][]; images: [string, Image][] };
  /** Newest first. */
  graphs: StoredGraph[];
}

/**
 * Mode, size, inode, modification and change time. Times as doubles keep sub-microsecond precision,
 * finer than the kernel's timestamp tick. Numbers, not a string: compared 1500 times per no-op run.
 */
const SIGNATURE_LENGTH = 5;

function pushSignature(signatures: number[], info: Stats): void {
  signatures.push(info.mode, info.size, info.ino, info.mtimeMs, info.ctimeMs);
}

function signatureMatches(signatures: readonly number[], index: number, info: Stats): boolean {
  const at = index * SIGNATURE_LENGTH;
  return (
    signatures[at] === info.mode &&
    signatures[at + 1] === info.size &&
    signatures[at + 2] === info.ino &&
    signatures[at + 3] === info.mtimeMs &&
    signatures[at + 4] === info.ctimeMs
  );
}

const loaderDir = dirname(fileURLToPath(import.meta.url));
/** Code outside the loader's folder that its results depend on: keys' hashing, sizes and durations. */
const keyCode = ["../digest.ts", "../units.ts", "../sources/mirror.ts"].map((path) =>
  fileURLToPath(new URL(path, import.meta.url)),
);

/**
 * Names the plan and this install of rootstock: a store shared by two installs (an upgrade kept beside
 * the old one) must not give one the other's plans and keys, whose loader files are listed unchanged.
 */
function listingHead(planDir: string): string {
  return `${FORMAT}\0${resolve(planDir)}\0${loaderDir}`;
}

/**
 * Lists the plan folder, the loader's code and the code it uses to hash keys and read values (all part
 * of what a cached plan and its graphs depend on); also returns the newest modification or change time seen (ms).
 * Synchronous: thousands of tiny calls cost less without the thread pool.
 */
function listPlan(planDir: string): { listing: Listing; newestMs: number } {
  const listing: Listing = { head: listingHead(planDir), paths: [], signatures: [] };
  let newestMs = 0;
  const add = (path: string) => {
    const info = lstatSync(path);
    listing.paths.push(path);
    pushSignature(listing.signatures, info);
    return info;
  };
  const walk = (dir: string, inPlan: boolean) => {
    for (const name of readdirSync(dir).sort()) {
      // Concatenated, not path.join()ed: names from readdir need no normalising, and this runs per file.
      const info = add(`${dir}/${name}`);
      if (inPlan) newestMs = Math.max(newestMs, info.mtimeMs, info.ctimeMs);
      if (info.isDirectory()) walk(`${dir}/${name}`, inPlan);
    }
  };
  const root = resolve(planDir);
  const rootInfo = add(root);
  newestMs = Math.max(rootInfo.mtimeMs, rootInfo.ctimeMs);
  walk(root, true);
  walk(loaderDir, false);
  for (const file of keyCode) add(file);
  return { listing, newestMs };
}

/** True when every listed entry is as it was; entries added since would have changed a folder's times. */
function listingHolds(listing: Listing, planDir: string): boolean {
  if (listing.head !== listingHead(planDir)) return false;
  const { paths, signatures } = listing;
  for (let index = 0; index < paths.length; index++) {
    const info = lstatSync(paths[index] as string, { throwIfNoEntry: false });
    if (info === undefined || !signatureMatches(signatures, index, info)) return false;
  }
  return true;
}

/** The plan's own path when it makes a file name; a hash of it when too long. */
function cacheFileName(planDir: string): string {
  const encoded = encodeURIComponent(resolve(planDir));
  return `${encoded.length <= 200 ? encoded : sha256Text(encoded)}.json`;
}

export interface CachedLoadOptions extends LoadPlanOptions {
  /** Folder for the cache (in the store); without it the plan is loaded afresh. */
  cacheDir?: string;
  /** The present, in milliseconds since the epoch, for tests (default: now). */
  nowMs?: number;
}

/** The loader (zod, TOML) is imported only when the cache misses: it costs more than a cache hit. */
async function loadPlan(dir: string, options: LoadPlanOptions): Promise<Plan> {
  return (await import("./load.ts")).loadPlan(dir, options);
}

export async function loadPlanCached(dir: string, options: CachedLoadOptions = {}): Promise<Plan> {
  return (await openPlanCache(dir, options)).plan;
}

/** A loaded plan, and the resolved graphs cached with it. */
export interface PlanCacheEntry {
  plan: Plan;
  /** The plan's graph for these options: from the cache when it was resolved before, else resolved and kept. */
  resolve(options: ResolveOptions): Graph;
}

export async function openPlanCache(dir: string, options: CachedLoadOptions = {}): Promise<PlanCacheEntry> {
  const uncached = (plan: Plan): PlanCacheEntry => ({
    plan,
    resolve: (resolve) => resolveGraph(plan, resolve),
  });
  if (options.cacheDir === undefined) return uncached(await loadPlan(dir, options));
  const displayDir = options.displayDir ?? dir;
  const file = join(options.cacheDir, "plans", cacheFileName(dir));
  let cached: CachedPlan | undefined;
  try {
    const read = JSON.parse(readFileSync(file, "utf8")) as CachedPlan;
    if (wellFormed(read) && listingHolds(read.listing, dir)) cached = read;
  } catch {
    // No cache yet, or an unreadable one: load afresh.
  }
  let plan: Plan;
  if (cached) {
    plan = {
      ...cached.plan,
      // Messages name the folder as this command was given it, which the cache does not depend on.
      displayDir,
      steps: new Map(cached.plan.steps),
      images: new Map(cached.plan.images),
    };
  } else {
    let listed: ReturnType<typeof listPlan>;
    try {
      listed = listPlan(dir);
    } catch {
      // An unreadable or missing plan: let the loader say what is wrong.
      return uncached(await loadPlan(dir, options));
    }
    plan = await loadPlan(dir, options);
    const now = options.nowMs ?? Date.now();
    if (listed.newestMs >= now - RACY_MS) return uncached(plan);
    cached = {
      format: FORMAT,
      listing: listed.listing,
      plan: { ...plan, steps: [...plan.steps], images: [...plan.images] },
      graphs: [],
    };
    writeCache(file, cached);
  }
  const entry = cached;
  return {
    plan,
    resolve(resolveOptions) {
      const key = canonicalJson(resolveOptions);
      const stored = entry.graphs.find((graph) => graph.options === key);
      if (stored && graphWellFormed(stored, plan)) return graphFromStore(plan, stored, resolveOptions);
      const graph = resolveGraph(plan, resolveOptions);
      const others = entry.graphs.filter((kept) => kept.options !== key);
      entry.graphs = [storeGraph(key, graph), ...others].slice(0, GRAPHS_KEPT);
      writeCache(file, entry);
      return graph;
    },
  };
}

/**
 * The cache is rootstock's own file, but a store can be damaged or edited by hand: what does not have
 * the shape written is a miss, not a crash.
 */
function wellFormed(read: CachedPlan): boolean {
  const { listing, plan, graphs } = (read ?? {}) as Partial<CachedPlan>;
  return (
    read.format === FORMAT &&
    typeof listing?.head === "string" &&
    Array.isArray(listing.paths) &&
    Array.isArray(listing.signatures) &&
    typeof plan === "object" &&
    plan !== null &&
    typeof plan.name === "string" &&
    NAME_PATTERN.test(plan.name) &&
    Array.isArray(plan.steps) &&
    plan.steps.every(
      (pair) =>
        Array.isArray(pair) &&
        typeof pair[0] === "string" &&
        NAME_PATTERN.test(pair[0]) &&
        typeof pair[1] === "object" &&
        pair[1] !== null,
    ) &&
    Array.isArray(plan.images) &&
    Array.isArray(plan.stages) &&
    Array.isArray(graphs)
  );
}

/** A stored graph is used only when every step is one of the plan's, with a key that names a store entry. */
function graphWellFormed(stored: StoredGraph, plan: Plan): boolean {
  return (
    Array.isArray(stored.steps) &&
    Array.isArray(stored.disabled) &&
    typeof stored.variables === "object" &&
    stored.variables !== null &&
    typeof stored.digest === "string" &&
    stored.steps.every(
      (step) =>
        typeof step === "object" &&
        step !== null &&
        plan.steps.has(step.name) &&
        typeof step.key === "string" &&
        step.key.length === 64 &&
        typeof step.stageIndex === "number" &&
        typeof step.env === "object" &&
        step.env !== null,
    ) &&
    // One pass over all keys costs less than a test per key on a no-op run.
    HEX.test(stored.steps.map((step) => step.key).join(""))
  );
}

const HEX = /^[0-9a-f]*$/;

function storeGraph(options: string, graph: Graph): StoredGraph {
  return {
    options,
    variables: graph.variables,
    steps: graph.steps.map(({ step: _, inputs: __, ...resolved }) => resolved),
    disabled: graph.disabled,
    digest: graph.digest,
  };
}

/** A stored step; its key inputs are resolved again, for the whole graph, the first time one is read. */
class CachedStep implements ResolvedStep {
  readonly name: string;
  readonly step: Step;
  readonly key: string;
  readonly env: Record<string, string>;
  readonly stageIndex: number;
  readonly #inputsOf: (name: string) => Record<string, string>;

  constructor(stored: StoredStep, step: Step, inputsOf: (name: string) => Record<string, string>) {
    this.name = stored.name;
    this.step = step;
    this.key = stored.key;
    this.env = stored.env;
    this.stageIndex = stored.stageIndex;
    this.#inputsOf = inputsOf;
  }

  get inputs(): Record<string, string> {
    return this.#inputsOf(this.name);
  }
}

/** The stored graph: a run that builds or explains something pays for the key inputs, a no-op run not. */
function graphFromStore(plan: Plan, stored: StoredGraph, options: ResolveOptions): Graph {
  let full: Graph | undefined;
  const inputsOf = (name: string) => {
    full ??= resolveGraph(plan, options);
    return full.byName.get(name)?.inputs ?? {};
  };
  const steps: ResolvedStep[] = stored.steps.map(
    (resolved) => new CachedStep(resolved, plan.steps.get(resolved.name) as Step, inputsOf),
  );
  return {
    plan,
    variables: stored.variables,
    steps,
    byName: new Map(steps.map((step) => [step.name, step])),
    disabled: stored.disabled,
    digest: stored.digest,
  };
}

function writeCache(file: string, cached: CachedPlan): void {
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileAtomically(file, JSON.stringify(cached));
  } catch {
    // A cache that cannot be written only costs time.
  }
}
