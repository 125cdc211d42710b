/**
 * What a LAN needs besides the HTTP server: a dnsmasq proxy-DHCP/TFTP configuration and, in `tftp/`,
 * the iPXE binaries it hands PXE firmware. rootstock writes them and does not run them. `rootstock
 * netboot` writes them into its run folder while it serves, `--out` into the exported folder.
 */
import { IPXE_BIOS, IPXE_UEFI, renderDnsmasqConfig } from "./dnsmasq-config.ts";

const { access, copyFile, mkdir, rm, writeFile } = process.getBuiltinModule("node:fs/promises");
const { join } = process.getBuiltinModule("node:path");

/** Where Debian's and Fedora's ipxe packages put the binaries PXE firmware chainloads. */
export const IPXE_FOLDERS = ["/usr/lib/ipxe", "/usr/share/ipxe"];

export interface LanConfigOptions {
  /** The URL LAN clients reach the HTTP server by. */
  base: URL;
  /** The config file's header. */
  title: string;
  /** Folders searched for undionly.kpxe and ipxe.efi (default IPXE_FOLDERS). */
  ipxeFolders?: string[];
  /** dnsmasq's interface= line. */
  networkInterface?: string;
}

export interface LanConfig {
  /** Files written, relative to the folder. */
  files: string[];
  /** The config file, when there is one. */
  dnsmasq?: string;
  /** Why there is no dnsmasq.conf, when there is none. */
  dnsmasqSkipped?: string;
  /** iPXE binaries the host does not have (the LAN setup needs them in tftp/). */
  missingIpxe: string[];
}

/** Every file writeLanConfig may write into its folder. */
export const LAN_FILES = ["dnsmasq.conf", `tftp/${IPXE_BIOS}`, `tftp/${IPXE_UEFI}`];

/** Writes into `dir`; the files name `placedAt` (default dir), where they will be served from. */
export async function writeLanConfig(
  dir: string,
  options: LanConfigOptions & { placedAt?: string },
): Promise<LanConfig> {
  const files: string[] = [];
  const tftp = join(dir, "tftp");
  const missingIpxe: string[] = [];
  await mkdir(tftp, { recursive: true });
  for (const binary of [IPXE_BIOS, IPXE_UEFI]) {
    const source = await firstExisting(
      (options.ipxeFolders ?? IPXE_FOLDERS).map((folder) => join(folder, binary)),
    );
    if (source === undefined) missingIpxe.push(binary);
    else {
      await copyFile(source, join(tftp, binary));
      files.push(`tftp/${binary}`);
    }
  }
  let text: string;
  try {
    text = renderDnsmasqConfig({
      base: options.base,
      tftpRoot: join(options.placedAt ?? dir, "tftp"),
      title: options.title,
      ...(options.networkInterface === undefined ? {} : { networkInterface: options.networkInterface }),
    });
  } catch (error) {
    // One written by an earlier export into this folder would send the LAN to the old address.
    await rm(join(dir, "dnsmasq.conf"), { force: true });
    return { files, missingIpxe, dnsmasqSkipped: (error as Error).message };
  }
  await writeFile(join(dir, "dnsmasq.conf"), text, { mode: 0o644 });
  files.push("dnsmasq.conf");
  return { files, missingIpxe, dnsmasq: join(options.placedAt ?? dir, "dnsmasq.conf") };
}

async function firstExisting(paths: string[]): Promise<string | undefined> {
  for (const path of paths) {
    if (
      await access(path).then(
        () => true,
        () => false,
      )
    )
      return path;
  }
  return undefined;
}
