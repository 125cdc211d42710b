/**
 * The RAM root's initramfs, made by the image layer (`buildImage`): the same cpio writer, device nodes
 * (/dev/console) and compression as every initramfs image of a plan, and an entry in the image store,
 * so an unchanged RAM root is not archived again. It emits no image events: it is part of the bundle,
 * which netboot:bundle reports, not an image of the plan.
 */
import { buildImage } from "../image/build-image.ts";
import { IMAGE_FORMAT } from "../image/image-key.ts";
import type { Compression } from "../plan/types.ts";
import type { InitramfsBuilder } from "./build-bundle.ts";

export interface ImageInitramfsOptions {
  storeDir: string;
  /** Default gzip: every kernel that boots an initramfs unpacks it. */
  compression?: Exclude<Compression, "none">;
  /** Records the image's key with the run, so that gc keeps the RAM root with the bundle it went into. */
  register?: (key: string) => Promise<void>;
}

export function imageInitramfs(options: ImageInitramfsOptions): InitramfsBuilder {
  const compression = options.compression ?? "gzip";
  return {
    identity: `${IMAGE_FORMAT}:initramfs:${compression}`,
    async build(tree, { signal }) {
      const image = await buildImage(
        { name: tree.name, kind: "initramfs", compression, layers: [{ dir: tree.dir, label: "RAM root" }] },
        {
          storeDir: options.storeDir,
          ...(options.register === undefined ? {} : { register: options.register }),
          ...(signal === undefined ? {} : { signal }),
        },
      );
      return { path: image.path, sha256: image.sha256, size: image.bytes };
    },
  };
}
