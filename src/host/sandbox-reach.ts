/**
 * Whether a host tool, as a step in a sandbox with the host's root sees it, is there: a bwrap or chroot
 * step sees only the host's /usr, /bin, /sbin and /lib folders and a few /etc files. A link on the way
 * that leads elsewhere (/usr/local/bin/tool to /opt, or /etc/tool) leaves the step with "not found".
 */
import { HOST_ETC_FILES } from "../build/sandbox.ts";

const { lstatSync, readlinkSync, realpathSync } = process.getBuiltinModule("node:fs");
const { basename, dirname, resolve } = process.getBuiltinModule("node:path");

const HOST_TOPS = ["usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"];

function seenInSandbox(path: string): boolean {
  const [, top = "", ...rest] = path.split("/");
  if (HOST_TOPS.includes(top)) return true;
  // /etc itself is there, holding only those few files (alternatives among them).
  return top === "etc" && (rest.length === 0 || HOST_ETC_FILES.includes(rest[0] as string));
}

/**
 * The first place on the way to `path` (the path itself, each link it leads through, and the folders
 * they are in) that a sandboxed step does not see; undefined when it sees all of them.
 */
export function outOfSandbox(path: string): string | undefined {
  let current = resolve(path);
  for (let hops = 0; hops < 40; hops++) {
    // The folder it is in, as it really is: /usr/local may itself be a link to /opt.
    let real: string;
    try {
      real = `${realpathSync(dirname(current))}/${basename(current)}`;
    } catch {
      return current;
    }
    for (const place of [current, real]) if (!seenInSandbox(place)) return place;
    const info = lstatSync(real, { throwIfNoEntry: false });
    if (!info?.isSymbolicLink()) return undefined;
    // Walked as the kernel walks it: "/opt/x/../../usr/bin/true" passes through /opt, which a step
    // does not have, though resolve() would drop it.
    const target = readlinkSync(real);
    let walked = target.startsWith("/") ? "" : dirname(real);
    for (const part of target.split("/")) {
      if (part === "" || part === ".") continue;
      if (part === "..") {
        walked = dirname(walked || "/");
        continue;
      }
      walked = `${walked}/${part}`;
      // The link's target as written names the place best, even where it comes back.
      if (!seenInSandbox(walked)) return target.startsWith("/") ? target : `${dirname(real)}/${target}`;
    }
    current = resolve(dirname(real), target);
  }
  return current;
}
