/**
 * Who owns a folder of the store, when it is not the user running rootstock: a store written by two
 * users (root and another) ends up with folders one of them cannot change, and that is what to say.
 */
const { lstatSync, readFileSync } = process.getBuiltinModule("node:fs");
const { dirname } = process.getBuiltinModule("node:path");

export interface ForeignOwner {
  /** The nearest folder (or file) of the path that exists and can be seen. */
  path: string;
  uid: number;
  name: string;
}

/** Undefined when the path (or what exists of it) is the current user's, or nothing of it exists. */
export function foreignOwner(path: string): ForeignOwner | undefined {
  const uid = process.getuid?.();
  if (uid === undefined) return undefined;
  let at = path;
  for (;;) {
    let info: ReturnType<typeof lstatSync>;
    try {
      info = lstatSync(at, { throwIfNoEntry: false });
    } catch {
      // Inside a folder that may not be searched: that folder is the one to name.
      info = undefined;
    }
    if (info) return info.uid === uid ? undefined : { path: at, uid: info.uid, name: userName(info.uid) };
    if (dirname(at) === at) return undefined;
    at = dirname(at);
  }
}

/** The user's name as /etc/passwd has it, else `uid N`. */
export function userName(uid: number): string {
  try {
    for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
      const [name, , id] = line.split(":");
      if (name && Number(id) === uid) return name;
    }
  } catch {}
  return `uid ${uid}`;
}

/**
 * A copy made as root is root's: Node's copyFile keeps the source's owner when it can (as root), and a
 * file in the store that another user owns is one that user could change after its hash was checked.
 */
export function ownCopy(path: string): void {
  const uid = process.getuid?.();
  const gid = process.getgid?.();
  if (uid !== 0 || gid === undefined) return;
  process.getBuiltinModule("node:fs").lchownSync(path, uid, gid);
}

/**
 * What another user (not root, whom nothing keeps out) owns of the path: a folder that user could change
 * under this one. Root's folders (`root:team 2775`, an admin's shared space) are no one else's.
 */
export function otherUsersOwn(path: string): ForeignOwner | undefined {
  const other = foreignOwner(path);
  return other === undefined || other.uid === 0 ? undefined : other;
}
