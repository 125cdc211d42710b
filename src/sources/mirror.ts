/**
 * A mirror is a folder or an http(s) URL that holds source files by hash, `MIRROR/sha256/<sha256>`, and
 * optionally by name, `MIRROR/<file>`. By hash is tried first: it cannot collide. By name lets a plain
 * folder of upstream tarballs (a distfiles directory) serve as a mirror. `rootstock mirror` writes both.
 */
import { RootstockError } from "../errors.ts";

const { isAbsolute, join, resolve } = process.getBuiltinModule("node:path");
const { fileURLToPath } = process.getBuiltinModule("node:url");

export type Mirror =
  | { kind: "folder"; dir: string; spec: string }
  | { kind: "url"; base: string; spec: string };

/** Where a mirror may hold one file: by hash first, then by name. */
export type MirrorLocation = { kind: "file"; path: string } | { kind: "url"; url: string };

export function parseMirror(spec: string): Mirror {
  const mirror = readMirror(spec);
  if (typeof mirror !== "string") return mirror;
  throw new RootstockError("ERR_MIRROR_BAD_SPEC", `mirror ${JSON.stringify(spec)} ${mirror}`, {
    hint: "give a URL such as http://host/sources/, a file:/// URL, or an absolute path such as /srv/mirror (a space in a URL is written %20)",
  });
}

/** What is wrong with a mirror as written (the plan's schema asks this too), or nothing. */
export function mirrorProblem(spec: string): string | undefined {
  const mirror = readMirror(spec);
  return typeof mirror === "string" ? mirror : undefined;
}

function readMirror(spec: string): Mirror | string {
  if (/^(https?|file):/.test(spec) && !URL.canParse(spec)) return "is not a valid URL";
  if (/^https?:\/\/[^\s/]+/.test(spec)) {
    return { kind: "url", base: spec.endsWith("/") ? spec : `${spec}/`, spec };
  }
  if (spec.startsWith("file:///")) {
    try {
      return { kind: "folder", dir: fileURLToPath(spec), spec };
    } catch {
      return "is not a file:/// URL of a folder";
    }
  }
  if (isAbsolute(spec)) return { kind: "folder", dir: resolve(spec), spec };
  return "is neither an http(s) URL nor a folder";
}

export function mirrorLocations(mirror: Mirror, sha256: string, file: string): MirrorLocation[] {
  if (mirror.kind === "folder") {
    return [
      { kind: "file", path: join(mirror.dir, "sha256", sha256) },
      { kind: "file", path: join(mirror.dir, file) },
    ];
  }
  return [
    { kind: "url", url: new URL(`sha256/${sha256}`, mirror.base).href },
    { kind: "url", url: new URL(encodeURIComponent(file), mirror.base).href },
  ];
}
