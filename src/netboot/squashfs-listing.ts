/**
 * What a squashfs image holds, as `unsquashfs -lls` lists it, and where a path inside it leads once
 * its symbolic links are followed. It lets rootstock check the system's init before anything boots,
 * where the RAMsteam procedure found a mistyped init only after a kexec.
 */
import { describeCause, RootstockError } from "../errors.ts";
import { hostPath, noteToolUse } from "../host/tools.ts";

const { execFile } = process.getBuiltinModule("node:child_process");
const { posix } = process.getBuiltinModule("node:path");
const { promisify } = process.getBuiltinModule("node:util");

const run = promisify(execFile);

export interface ImageEntry {
  type: "file" | "dir" | "symlink" | "other";
  executable: boolean;
  /** For a symbolic link. */
  target?: string;
}

/** Absolute path inside the image → entry. */
export type ImageListing = Map<string, ImageEntry>;

const LINE =
  /^([-dlcbps])([-rwxsStT]{9})\s+\S+\s+(?:\d+|\d+,\s*\d+)\s+\d{4}-\d\d-\d\d \d\d:\d\d squashfs-root(.*)$/;

export function parseListing(text: string): ImageListing {
  const listing: ImageListing = new Map();
  for (const line of text.split("\n")) {
    const match = LINE.exec(line);
    if (!match) continue;
    const [, kind, mode, rest] = match as unknown as [string, string, string, string];
    let path = rest === "" ? "/" : rest;
    let target: string | undefined;
    if (kind === "l") {
      const arrow = rest.indexOf(" -> ");
      if (arrow === -1) continue;
      path = rest.slice(0, arrow);
      target = rest.slice(arrow + 4);
    }
    const type = kind === "-" ? "file" : kind === "d" ? "dir" : kind === "l" ? "symlink" : "other";
    listing.set(path, {
      type,
      executable: [mode[2], mode[5], mode[8]].some((bit) => bit === "x" || bit === "s" || bit === "t"),
      ...(target === undefined ? {} : { target }),
    });
  }
  return listing;
}

export type Resolution =
  | { found: true; path: string; entry: ImageEntry }
  | { found: false; missing: string; via: string[] };

/** Follows `path` through the image's symbolic links (absolute ones stay inside the image). */
export function resolveInImage(listing: ImageListing, path: string): Resolution {
  const via: string[] = [];
  let pending = posix.normalize(path).split("/").filter(Boolean);
  let current = "/";
  let hops = 0;
  while (pending.length > 0) {
    const [name, ...rest] = pending as [string, ...string[]];
    pending = rest;
    const next = name === ".." ? posix.dirname(current) : posix.join(current, name);
    if (name === "." || name === "..") {
      current = next;
      continue;
    }
    const entry = listing.get(next);
    if (!entry) return { found: false, missing: next, via };
    if (entry.type === "symlink" && entry.target !== undefined) {
      if (++hops > 40) return { found: false, missing: next, via: [...via, "(too many symbolic links)"] };
      via.push(`${next} -> ${entry.target}`);
      const target = entry.target.split("/").filter(Boolean);
      pending = [...target, ...pending];
      if (entry.target.startsWith("/")) current = "/";
      continue;
    }
    current = next;
  }
  const entry = listing.get(current) ?? { type: "dir" as const, executable: true };
  return { found: true, path: current, entry };
}

export async function listSquashfs(image: string, signal?: AbortSignal): Promise<ImageListing> {
  try {
    noteToolUse("unsquashfs", hostPath());
    const { stdout } = await run("unsquashfs", ["-lls", "-no-progress", image], {
      maxBuffer: 1 << 30,
      // Found where doctor finds it, as every host tool rootstock runs itself.
      env: { ...process.env, PATH: hostPath(), LC_ALL: "C", TZ: "UTC" },
      ...(signal === undefined ? {} : { signal }),
    });
    return parseListing(stdout);
  } catch (error) {
    throw new RootstockError(
      "ERR_NETBOOT_SQUASHFS_UNREADABLE",
      `cannot list ${image}: ${describeCause(error)}`,
      {
        hint: "unsquashfs comes with squashfs-tools: run `rootstock doctor --install`",
      },
    );
  }
}
