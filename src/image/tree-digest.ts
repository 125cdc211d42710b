/**
 * The identity of a folder given as an image layer without a step key: every entry's path, kind, mode
 * and content (file hash, link target, device numbers). Owners and timestamps are left out because
 * images set their own.
 */
import { createHash } from "node:crypto";
import { lstat, readdir, readlink } from "node:fs/promises";
import { join } from "node:path";
import { digestFile } from "../digest.ts";
import { compareNames, deviceMajor, deviceMinor } from "./stage-tree.ts";

export async function treeDigest(dir: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash("sha256");
  const walk = async (relative: string): Promise<void> => {
    signal?.throwIfAborted();
    const names = (await readdir(relative === "" ? dir : join(dir, relative))).sort(compareNames);
    for (const name of names) {
      const path = relative === "" ? name : `${relative}/${name}`;
      const absolute = join(dir, path);
      const info = await lstat(absolute);
      const mode = (info.mode & 0o7777).toString(8);
      if (info.isDirectory()) {
        hash.update(`d ${mode} ${path}\0`);
        await walk(path);
      } else if (info.isFile()) {
        hash.update(`f ${mode} ${path} ${(await digestFile(absolute, signal)).sha256}\0`);
      } else if (info.isSymbolicLink()) {
        hash.update(`l ${path} ${await readlink(absolute)}\0`);
      } else if (info.isCharacterDevice() || info.isBlockDevice()) {
        const type = info.isCharacterDevice() ? "c" : "b";
        hash.update(`${type} ${mode} ${path} ${deviceMajor(info.rdev)}:${deviceMinor(info.rdev)}\0`);
      } else {
        hash.update(`o ${mode} ${path}\0`);
      }
    }
  };
  await walk("");
  return hash.digest("hex");
}
