/**
 * The netboot bundles of a store (`<store>/netboot/<key>/`) as gc sees them: their keys, taking one out
 * in a single rename and putting it back, and the assembly folders left in `netboot/tmp/`. A bundle is
 * in use while a kept run lists its key (RunSession.useEntries("netboot", …)).
 */
import { type Evicted, evictEntry, restoreEntry } from "../store/entry-rename.ts";
import { listFolder } from "../store/fs-refusal.ts";
import { StoreLocks } from "../store/store-locks.ts";
import { bundleStoreDir, bundleTmpDir, scratchLockName } from "./build-bundle.ts";

const { readdir } = process.getBuiltinModule("node:fs/promises");
const { join } = process.getBuiltinModule("node:path");

const KEY = /^[0-9a-f]{64}$/;

export class BundleStore {
  readonly storeDir: string;

  constructor(storeDir: string) {
    this.storeDir = storeDir;
  }

  dir(key: string): string {
    return join(bundleStoreDir(this.storeDir), key);
  }

  async keys(): Promise<string[]> {
    const names = await listFolder(bundleStoreDir(this.storeDir));
    return names.filter((name) => KEY.test(name));
  }

  /** Takes a bundle out in one rename (a server sees it whole or not at all); returns where it went. */
  evict(key: string): Promise<Evicted | undefined> {
    return evictEntry(this.dir(key), bundleTmpDir(this.storeDir), key, "manifest.json");
  }

  /** Undoes `evict`, unless the bundle was made again meanwhile. */
  async restore(key: string, evicted: Evicted): Promise<void> {
    await restoreEntry(evicted, this.dir(key));
  }

  /**
   * Folders of `netboot/tmp/` that no live process uses: bundles evicted by a gc that was killed, and
   * assembly folders of processes that died (a live one holds its folder's lock).
   */
  async leftovers(): Promise<string[]> {
    const tmp = bundleTmpDir(this.storeDir);
    const locks = new StoreLocks(this.storeDir);
    const found: string[] = [];
    for (const name of await readdir(tmp).catch(() => [] as string[])) {
      if (name.startsWith("evicted.") || !(await locks.probe(scratchLockName(name))))
        found.push(join(tmp, name));
    }
    return found;
  }
}
