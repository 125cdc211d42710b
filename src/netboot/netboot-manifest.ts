/**
 * What a netboot bundle is: its files by name, and everything the kernel command line is computed
 * from. Stored as manifest.json in the bundle's store entry. The URLs in the command line depend on
 * how a client reaches the server, so they are rendered per request from this, never stored.
 */
import { PC_ARCHES } from "../vm/pc-arches.ts";

/** Bumped whenever a bundle's layout or the RAM root's contract changes, so old entries are not reused. */
export const NETBOOT_FORMAT = "rootstock-netboot-1";

/** The files a bundle serves, by the names clients fetch them by. */
export const BUNDLE_FILES = ["vmlinuz", "initrd.img", "system.squashfs"] as const;
export type BundleFileName = (typeof BUNDLE_FILES)[number];

export interface BundleFile {
  sha256: string;
  size: number;
}

export interface NetbootManifest {
  format: string;
  key: string;
  plan: string;
  image: string;
  /** The plan's arch (absent in bundles made before it was recorded, all of them x86's). */
  arch?: string;
  /** `system.squashfs` is absent when the squashfs travels inside the initramfs. */
  files: Partial<Record<BundleFileName, BundleFile>> & Record<"vmlinuz" | "initrd.img", BundleFile>;
  /** The kernel's own cmdline and the image's, before rootstock's parameters. */
  cmdline: string;
  /** The system's init, started by switch_root. */
  init: string;
  squashfs: BundleFile & {
    /** Its path inside the initramfs, when embedded there. */
    embedded?: string;
  };
  /** The RAM root: the busybox it holds, and the size of the initramfs without an embedded squashfs. */
  /** appletsChecked is false when the host could not run busybox to list its applets (another arch). */
  ramRoot: { busybox: BundleFile; bytes: number; appletsChecked?: false };
}

/** True for a bundle a PC boots: the LAN config and QEMU line rootstock gives are for it. */
export function bootsOnPc(manifest: Pick<NetbootManifest, "arch">): boolean {
  return PC_ARCHES.includes(manifest.arch ?? "x86_64");
}

/** Why a bundle of another arch gets no LAN config: the PXE files rootstock offers start PCs. */
export function notPcReason(arch: string | undefined): string {
  return `the bundle is for ${arch}, and the PXE boot files rootstock offers (iPXE's undionly.kpxe and ipxe.efi) start x86 PCs; a machine of that arch needs an iPXE of its own, pointed at boot.ipxe`;
}

/** Where an embedded squashfs sits in the initramfs. */
export const EMBEDDED_SQUASHFS = "/rootstock/system.squashfs";

/**
 * The kernel command line for a client that reaches the server at `base` (ending in `/`): the plan's
 * own part, then where the squashfs is, its hash and size, and the init to start.
 */
export function netbootCmdline(manifest: NetbootManifest, base: URL): string {
  const squashfs = manifest.squashfs.embedded ?? new URL("system.squashfs", base).href;
  return [
    manifest.cmdline,
    `rootstock.squashfs=${squashfs}`,
    `rootstock.sha256=${manifest.squashfs.sha256}`,
    `rootstock.size=${manifest.squashfs.size}`,
    `rootstock.init=${manifest.init}`,
  ]
    .filter((part) => part !== "")
    .join(" ");
}
