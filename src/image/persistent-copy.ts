/**
 * Disks that keep what a guest writes (`rootstock boot --persist`): a copy of the image kept outside
 * the store, which never changes its entries. The copy is made once, beside its place and renamed in,
 * and used by every later boot; a note beside it says which image it was copied from, so that a boot
 * after the image changed can say the copy is older than the image.
 */
import { writeFileAtomically } from "../atomic-write.ts";
import { RootstockError } from "../errors.ts";
import { runCommand } from "../host/run-command.ts";
import { otherUsersOwn } from "../store/owner.ts";
import { uniqueSuffix } from "../unique.ts";
import type { BuiltImage } from "./build-image.ts";

const { chmod, lstat, mkdir, readFile, rename, rm } = process.getBuiltinModule("node:fs/promises");
const { homedir } = process.getBuiltinModule("node:os");
const { join } = process.getBuiltinModule("node:path");

export interface PersistentCopy {
  image: string;
  /** The copy the guest writes to. */
  path: string;
  /** Made now, from the image in the store. */
  created: boolean;
  /** Copied from an earlier build of the image (its key has changed since). */
  stale: boolean;
}

interface CopyNote {
  plan: string;
  image: string;
  key: string;
  sha256: string;
  copied: string;
}

/**
 * Where persistent disks live: `$ROOTSTOCK_DISKS`, else `$XDG_DATA_HOME/rootstock/disks`, else
 * `~/.local/share/rootstock/disks` — data of the user's, unlike the store, which is a cache.
 */
export function persistentDiskDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ROOTSTOCK_DISKS) return env.ROOTSTOCK_DISKS;
  const data = env.XDG_DATA_HOME?.startsWith("/") ? env.XDG_DATA_HOME : join(homedir(), ".local", "share");
  return join(data, "rootstock", "disks");
}

/** The copy of `image` for `plan` under `dir` (`DIR/PLAN/IMAGE.ext4`), made if there is none. */
export async function persistentCopy(
  image: BuiltImage,
  options: { plan: string; dir: string; signal?: AbortSignal },
): Promise<PersistentCopy> {
  const folder = join(options.dir, options.plan);
  const path = join(folder, `${image.name}.${image.kind}`);
  const notePath = `${path}.json`;
  // A folder another user owns (or one above it, up to --disk-dir) lets that user swap the disk the
  // guest writes, or plant a link where rootstock writes: refused, before anything is made in it.
  for (const at of [options.dir, folder]) {
    if (at === folder) await mkdir(folder, { recursive: true });
    const other = otherUsersOwn(at);
    if (other)
      throw new RootstockError(
        "ERR_IMAGE_DISK_DIR_NOT_OWN",
        `${other.path} belongs to ${other.name}, not to this user`,
        {
          hint: "keep persistent disks in a folder of your own (--disk-dir DIR, or $ROOTSTOCK_DISKS)",
        },
      );
  }
  const note = await readFile(notePath, "utf8")
    .then((text) => JSON.parse(text) as CopyNote)
    .catch(() => undefined);
  const found = await lstat(path).catch(() => undefined);
  if (found?.isSymbolicLink())
    throw new RootstockError("ERR_IMAGE_DISK_DIR_NOT_OWN", `${path} is a link, not a disk of rootstock's`, {
      hint: "remove the link: the guest would write through it to where it leads",
    });
  const exists = found?.isFile() ?? false;
  if (exists)
    return { image: image.name, path, created: false, stale: note !== undefined && note.key !== image.key };

  const staged = join(folder, `.${image.name}.${uniqueSuffix()}`);
  try {
    // Sparse: a disk image is mostly free space.
    await runCommand("cp", ["--sparse=always", "--reflink=auto", image.path, staged], {
      code: "ERR_IMAGE_COPY_FAILED",
      what: `copying ${image.name} to ${path}`,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    // Its owner's disk, holding what the image holds (private files too).
    await chmod(staged, 0o600);
    const written: CopyNote = {
      plan: options.plan,
      image: image.name,
      key: image.key,
      sha256: image.sha256,
      copied: new Date().toISOString(),
    };
    // Renamed into place: a link planted at its name is replaced, not followed.
    writeFileAtomically(notePath, `${JSON.stringify(written, null, 2)}\n`);
    await rename(staged, path);
  } finally {
    await rm(staged, { force: true });
  }
  return { image: image.name, path, created: true, stale: false };
}
