/**
 * Loads a plan from a cache when none of its files changed, so that a no-op run of a large plan does
 * not parse and hash every file again.
 *
 * The cache is keyed by a fingerprint of the whole plan folder: every entry's path, mode, size, inode,
 * and modification and change times (git's index does the same), plus the same for the
 * loader's own source files. Like git, it refuses to trust a file changed within the last two seconds: a
 * plan with such a file is loaded afresh and not cached, so an edit that keeps size and timestamp within
 * the filesystem's clock tick cannot go unseen.
 */
import { createHash, randomBytes } from "node:crypto";
import {
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { LoadPlanOptions } from "./load.ts";
import type { Image, Plan, Step } from "./types.ts";

const RACY_MS = 2000;
const FORMAT = 1;

interface Fingerprint {
  digest: string;
  /** Newest modification or change time seen, in milliseconds since the epoch. */
  newestMs: number;
}

interface CachedPlan {
  format: number;
  fingerprint: string;
  plan: Omit<Plan, "steps" | "images"> & { steps: [string, Step][]; images: [string, Image][] };
}

/**
 * Every entry under `dir`, recursively, appended to `lines`; returns the newest modification or change
 * time seen (ms). Synchronous: thousands of tiny calls cost less without the thread pool.
 */
function listTree(dir: string, lines: string[], label: string): number {
  let newest = 0;
  const walk = (relative: string) => {
    const absolute = relative === "" ? dir : `${dir}/${relative}`;
    for (const name of readdirSync(absolute).sort()) {
      const path = relative === "" ? name : `${relative}/${name}`;
      // Concatenated, not path.join()ed: names from readdir need no normalising, and this runs per file.
      const full = `${absolute}/${name}`;
      const info = lstatSync(full);
      if (info.mtimeMs > newest) newest = info.mtimeMs;
      if (info.ctimeMs > newest) newest = info.ctimeMs;
      // Times as doubles keep sub-microsecond precision, finer than the kernel's timestamp tick.
      lines.push(
        `${label}\0${path}\0${info.mode}\0${info.size}\0${info.ino}\0${info.mtimeMs}\0${info.ctimeMs}`,
      );
      if (info.isSymbolicLink()) lines.push(readlinkSync(full));
      else if (info.isDirectory()) walk(path);
    }
  };
  walk("");
  return newest;
}

const loaderDir = dirname(fileURLToPath(import.meta.url));

export function fingerprintPlan(planDir: string, displayDir: string): Fingerprint {
  const lines = [`${FORMAT}\0${resolve(planDir)}\0${displayDir}`];
  const newestMs = listTree(resolve(planDir), lines, "plan");
  // The loader's code is part of what a cached plan depends on.
  listTree(loaderDir, lines, "loader");
  return { digest: createHash("sha256").update(lines.join("\n")).digest("hex"), newestMs };
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
  if (options.cacheDir === undefined) return loadPlan(dir, options);
  const displayDir = options.displayDir ?? dir;
  let fingerprint: Fingerprint;
  try {
    fingerprint = fingerprintPlan(dir, displayDir);
  } catch {
    // An unreadable or missing plan: let the loader say what is wrong.
    return loadPlan(dir, options);
  }
  const file = join(
    options.cacheDir,
    "plans",
    `${createHash("sha256")
      .update(`${resolve(dir)}\0${displayDir}`)
      .digest("hex")
      .slice(0, 32)}.json`,
  );
  try {
    const cached = JSON.parse(readFileSync(file, "utf8")) as CachedPlan;
    if (cached.format === FORMAT && cached.fingerprint === fingerprint.digest) {
      return { ...cached.plan, steps: new Map(cached.plan.steps), images: new Map(cached.plan.images) };
    }
  } catch {
    // No cache yet, or an unreadable one: load afresh.
  }
  const plan = await loadPlan(dir, options);
  const now = options.nowMs ?? Date.now();
  if (fingerprint.newestMs < now - RACY_MS) {
    const cached: CachedPlan = {
      format: FORMAT,
      fingerprint: fingerprint.digest,
      plan: { ...plan, steps: [...plan.steps], images: [...plan.images] },
    };
    try {
      mkdirSync(dirname(file), { recursive: true });
      const staged = `${file}.${randomBytes(4).toString("hex")}`;
      writeFileSync(staged, JSON.stringify(cached));
      renameSync(staged, file);
    } catch {
      // A cache that cannot be written only costs time.
    }
  }
  return plan;
}
