/**
 * Built images, by key: `<store>/images/<key>/` holds the image file and manifest.json. An entry is
 * built in `<store>/images/tmp/<key>.<random>` (under the lock `image:<key>`, so gc can tell a build in
 * progress from a dead one's leftovers) and renamed into place whole, so a present key is a complete image.
 */
import type { Compression, ImageKind } from "../plan/types.ts";
import {
  type Evicted,
  evictEntry,
  removeEvicted,
  renameIntoPlace,
  restoreEntry,
} from "../store/entry-rename.ts";
import { listFolder } from "../store/fs-refusal.ts";
import { isObject, readJsonFile } from "../store/read-json.ts";
import { uniqueSuffix } from "../unique.ts";

const { mkdir, stat } = process.getBuiltinModule("node:fs/promises");
const { join } = process.getBuiltinModule("node:path");

export interface ImageManifest {
  format: string;
  key: string;
  kind: ImageKind;
  compression: Compression;
  /** The image file, relative to the entry folder. */
  file: string;
  sha256: string;
  bytes: number;
  /** The name of the image that first built this entry. */
  builtAs: string;
  inputs: Record<string, unknown>;
  entries: number;
  contentBytes: number;
}

export class ImageStore {
  readonly root: string;

  constructor(storeDir: string) {
    this.root = join(storeDir, "images");
  }

  dir(key: string): string {
    return join(this.root, key);
  }

  get tmpDir(): string {
    return join(this.root, "tmp");
  }

  async keys(): Promise<string[]> {
    const names = await listFolder(this.root);
    return names.filter((name) => /^[0-9a-f]{64}$/.test(name));
  }

  /**
   * The entry's manifest; one damaged into another shape (or naming a file elsewhere), or whose image
   * file is gone or of another size, is none: it is built again.
   */
  async lookup(key: string): Promise<ImageManifest | undefined> {
    const found = await readJsonFile(join(this.dir(key), "manifest.json"));
    const whole =
      isObject(found) &&
      typeof found.file === "string" &&
      /^[\w.+-]+$/.test(found.file) &&
      !/^\.+$/.test(found.file) &&
      typeof found.sha256 === "string" &&
      typeof found.bytes === "number";
    if (!whole) return undefined;
    const image = await stat(join(this.dir(key), found.file as string)).catch(() => undefined);
    return image?.isFile() && image.size === found.bytes ? (found as unknown as ImageManifest) : undefined;
  }

  /**
   * A fresh folder beside the store for building one entry, closed to other users: the root staged in
   * it may hold a step's setuid programs, and the image a step's private files.
   */
  async scratch(key: string): Promise<string> {
    await mkdir(this.tmpDir, { recursive: true });
    const dir = join(this.tmpDir, `${key}.${uniqueSuffix()}`);
    await mkdir(dir, { mode: 0o700 });
    return dir;
  }

  /** Moves a finished entry folder into place; if another build got there first, keeps that one. */
  async commit(key: string, built: string): Promise<void> {
    // A damaged entry under the key gives way to the one just built.
    if ((await stat(this.dir(key)).catch(() => undefined)) && !(await this.lookup(key))) {
      const evicted = await this.evict(key);
      if (evicted) await removeEvicted(evicted);
    }
    await renameIntoPlace(built, this.dir(key));
  }

  /** Takes an entry out in one rename (for gc), returning where it went. */
  evict(key: string): Promise<Evicted | undefined> {
    return evictEntry(this.dir(key), this.tmpDir, key, "manifest.json");
  }

  /** Undoes `evict`, unless the key was built again meanwhile. */
  async restore(key: string, evicted: Evicted): Promise<void> {
    if (evicted.inPlace) await restoreEntry(evicted, this.dir(key));
    else await this.commit(key, evicted.path);
  }
}

export function imageFileName(kind: ImageKind, compression: Compression): string {
  if (kind === "ext4") return "image.ext4";
  if (kind === "squashfs") return "image.squashfs";
  const suffix = { gzip: ".gz", xz: ".xz", zstd: ".zst", none: "" }[compression];
  return `image.cpio${suffix}`;
}
