/**
 * The iPXE script a client chains to: fetch the kernel and the RAM-root initramfs from the server it
 * reached, with the exact kernel command line, and boot. On failure it says so and opens iPXE's shell.
 */
import { type NetbootManifest, netbootCmdline } from "./netboot-manifest.ts";

export function renderIpxeScript(manifest: NetbootManifest, base: URL): string {
  const at = (name: string) => new URL(name, base).href;
  // initrd=NAME lets a UEFI kernel find the initrd iPXE loaded; a BIOS boot ignores it.
  const cmdline = `initrd=initrd.img ${netbootCmdline(manifest, base)}`;
  return [
    "#!ipxe",
    `# rootstock netboot: plan ${manifest.plan}, image ${manifest.image}, bundle ${manifest.key.slice(0, 16)}`,
    "# Written by rootstock for this server; the kernel command line is computed, not typed.",
    `echo rootstock: booting ${manifest.plan} (${manifest.image}) into RAM from ${base.href}`,
    `kernel ${at("vmlinuz")} ${cmdline} || goto failed`,
    `initrd ${at("initrd.img")} || goto failed`,
    "boot || goto failed",
    ":failed",
    `echo rootstock: the netboot failed. To try again: chain ${at("boot.ipxe")}`,
    "shell",
    "",
  ].join("\n");
}

/** The line to type at an iPXE prompt. */
export function chainCommand(base: URL): string {
  return `chain ${new URL("boot.ipxe", base).href}`;
}
