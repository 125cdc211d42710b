/** Where a step's mounts may not go, and where to suggest instead. */

/**
 * What a root of host tools runs and reads (src/build/sandbox.ts): the steps' PATH, the host's
 * libraries, and /etc (alternatives, ld.so.cache). A mount at one, inside one or over one (/usr,
 * /usr/local) would hide a declared tool, or put another in its place under the same key.
 */
export const HOST_TOOL_FOLDERS = [
  "/usr/local/bin",
  "/usr/local/sbin",
  "/usr/local/lib",
  "/usr/bin",
  "/usr/sbin",
  "/usr/lib",
  "/usr/lib32",
  "/usr/lib64",
  "/usr/libx32",
  "/usr/libexec",
  "/bin",
  "/sbin",
  "/lib",
  "/lib32",
  "/lib64",
  "/libx32",
  "/etc",
];

/** The sandbox's own folders: a mount there would hide one of them, or be hidden by it. */
export const RESERVED_MOUNT_POINTS = ["/build", "/out", "/tmp", "/proc", "/dev", "/deps", "/.rootstock"];

/** A mount point to suggest: /STEP, unless the sandbox or the host's tools have that one (a step named lib). */
export function mountSuggestion(step: string): string {
  const taken = (path: string) =>
    RESERVED_MOUNT_POINTS.some((point) => path === point || path.startsWith(`${point}/`)) ||
    HOST_TOOL_FOLDERS.some(
      (folder) => path === folder || path.startsWith(`${folder}/`) || folder.startsWith(`${path}/`),
    );
  return taken(`/${step}`) ? `/mnt/${step}` : `/${step}`;
}
