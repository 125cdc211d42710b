/**
 * An image's key: the hash of everything that can change its bytes. Pure, so that `rootstock image`
 * can tell what will be rebuilt without touching the disk.
 */
import { sha256Json } from "../digest.ts";
import type { Compression, ImageKind } from "../plan/types.ts";
import type { DeviceNode, OwnerOverride } from "./image-spec.ts";

/** Bumped whenever the way images are laid out or built changes, so old entries are not reused. */
export const IMAGE_FORMAT = "rootstock-image-6";

export interface ImageKeyInputs {
  kind: ImageKind;
  compression: Compression;
  sizeBytes?: number;
  label?: string;
  /** Each layer's identity, in order: a step key, or `tree:<digest>` for a plain folder. */
  layers: string[];
  /** The plan files' digest. */
  files?: string;
  owners: OwnerOverride[];
  devices: DeviceNode[];
  /** sha256 of each host tool that writes the image (cpio, gzip, mke2fs, …). */
  tools: Record<string, string>;
}

export function imageKey(inputs: ImageKeyInputs): string {
  return sha256Json({ format: IMAGE_FORMAT, ...inputs });
}

/** A UUID (for file system identity and hash seeds) that follows from the key, for reproducible images. */
export function uuidFromKey(key: string, salt: 0 | 1 = 0): string {
  const hex = key.slice(salt * 32, salt * 32 + 32).padEnd(32, "0");
  // Version 8 ("custom") with the RFC 4122 variant, so tools that check the format accept it.
  const version = `8${hex.slice(13, 16)}`;
  const variant = ((Number.parseInt(hex[16] as string, 16) & 0x3) | 0x8).toString(16) + hex.slice(17, 20);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${version}-${variant}-${hex.slice(20, 32)}`;
}
