/**
 * What an image is made of, independent of where it comes from: step-output folders copied in order
 * (a later one wins), a folder of plan files on top, and the few entries a rootless build cannot
 * create on disk (device nodes, owners other than root).
 */
import type { Compression, ImageDevice, ImageKind, ImageOwner, PlanFileEntry } from "../plan/types.ts";

export interface ImageLayer {
  /** A folder whose contents go to the image root. */
  dir: string;
  /** Its identity in the image key: a step key; without one the folder's tree digest is used. */
  key?: string;
  /** How messages name it (a step name). */
  label?: string;
  /**
   * The store's manifest of the folder, whose modes the image takes: a rootless commit gives owner
   * read (and search) permission on disk to what the step left without it, and records the step's mode.
   */
  manifest?: string;
  /**
   * Its owners were chosen, root among them: a chroot step runs as root and gives what it makes the
   * owner it means. A rootless step's are the builder's by necessity, so its folder that an earlier
   * layer gave another owner keeps that one.
   */
  ownersChosen?: boolean;
}

/** Paths inside the image, without a leading slash (`dev/console`). */
export type DeviceNode = ImageDevice;
export type OwnerOverride = ImageOwner;

export interface ImageSpec {
  /** The image's name in the plan, for messages and events. */
  name: string;
  /** The file that declares the image (a plan.toml), for messages. */
  declaredIn?: string;
  kind: ImageKind;
  compression: Compression;
  /** ext4 only; default: the content plus headroom. */
  sizeBytes?: number;
  label?: string;
  layers: ImageLayer[];
  /** A folder of the plan copied last; its files get mode 0644, or 0755 when executable. */
  files?: { dir: string; entries?: PlanFileEntry[] };
  /** Everything is root:root unless listed here. */
  owners?: OwnerOverride[];
  devices?: DeviceNode[];
}

/** `/dev/console` → `dev/console`; the image root is `.`. */
export function imagePath(path: string): string {
  const trimmed = path.replace(/^\/+/, "").replace(/\/+$/, "");
  return trimmed === "" ? "." : trimmed;
}

/**
 * The kernel opens /dev/console before it runs init, so an initramfs carries the node itself rather
 * than rely on an init that mounts devtmpfs first (it would start without standard streams).
 */
export const CONSOLE_DEVICE: DeviceNode = {
  path: "dev/console",
  type: "char",
  major: 5,
  minor: 1,
  mode: 0o600,
  uid: 0,
  gid: 0,
};
