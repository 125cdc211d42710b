/**
 * Where one source may be obtained, in the order they are tried: global mirrors, the source's own
 * mirrors, its url, then its Debian provider. Pure: nothing here touches the disk or the network.
 */
import { describeCause } from "../errors.ts";
import type { DebianProvider, Source } from "../plan/types.ts";
import { type Mirror, mirrorLocations, parseMirror } from "./mirror.ts";

const { fileURLToPath } = process.getBuiltinModule("node:url");

export type Candidate =
  /** `mirror`: a copy kept as the pinned file (a mirror, a stick), so any other content is damage. */
  | { kind: "file"; path: string; from: string; mirror?: boolean }
  | { kind: "http"; url: string; from: string }
  | { kind: "debian"; provider: DebianProvider; from: string }
  | { kind: "unsupported"; from: string; reason: string };

/** Offline, only local files are tried (an unsupported URL would be a network one too). */
export function usesNetwork(candidate: Candidate): boolean {
  return candidate.kind !== "file";
}

/** Candidates for sources that share one sha256 (two steps may pin the same file under other names). */
export function candidatesFor(sources: readonly Source[], mirrors: readonly Mirror[]): Candidate[] {
  const seen = new Set<string>();
  const result: Candidate[] = [];
  const add = (candidate: Candidate) => {
    if (seen.has(candidate.from)) return;
    seen.add(candidate.from);
    result.push(candidate);
  };
  const fromMirror = (mirror: Mirror, source: Source) => {
    for (const location of mirrorLocations(mirror, source.sha256, source.file)) {
      if (location.kind === "file")
        add({ kind: "file", path: location.path, from: location.path, mirror: true });
      else add({ kind: "http", url: location.url, from: location.url });
    }
  };
  for (const mirror of mirrors) for (const source of sources) fromMirror(mirror, source);
  for (const source of sources) {
    for (const spec of source.mirrors) {
      try {
        fromMirror(parseMirror(spec), source);
      } catch (error) {
        // The plan schema admits only readable mirrors; a Source built by hand may not be checked.
        add({ kind: "unsupported", from: spec, reason: describeCause(error) });
      }
    }
  }
  for (const source of sources) if (source.url) add(fromUrl(source.url));
  for (const source of sources) {
    const { debian } = source;
    if (debian) {
      add({
        kind: "debian",
        provider: debian,
        from: `debian:${debian.package}=${debian.version}/${debian.file}`,
      });
    }
  }
  return result;
}

function fromUrl(url: string): Candidate {
  if (url.startsWith("file:///")) {
    const path = fileURLToPath(url);
    return { kind: "file", path, from: path };
  }
  if (/^https?:/.test(url)) return { kind: "http", url, from: url };
  return {
    kind: "unsupported",
    from: url,
    reason: `${url.split(":")[0]} URLs are not fetched by rootstock; put the file on a mirror or import it`,
  };
}
