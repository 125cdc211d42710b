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
  if (/^https?:\/\/[^\s/]+/.test(spec)) {
    return { kind: "url", base: spec.endsWith("/") ? spec : `${spec}/`, spec };
  }
  if (spec.startsWith("file:///")) return { kind: "folder", dir: fileURLToPath(spec), spec };
  if (isAbsolute(spec)) return { kind: "folder", dir: resolve(spec), spec };
  throw new RootstockError(
    "ERR_MIRROR_BAD_SPEC",
    `mirror ${JSON.stringify(spec)} is neither an http(s) URL nor an absolute folder`,
    {
      hint: "give a URL such as http://host/sources/, a file:/// URL, or an absolute path such as /srv/mirror",
    },
  );
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
