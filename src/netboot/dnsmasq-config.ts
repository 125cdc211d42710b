/**
 * A dnsmasq configuration for netbooting machines of a real LAN whose router already hands out
 * addresses: dnsmasq answers as a proxy DHCP server (no leases), gives PXE firmware an iPXE binary
 * over TFTP, and gives iPXE (which announces HTTP support in option 175) the bundle's boot.ipxe.
 * rootstock writes it; a person runs it.
 */
import { RootstockError } from "../errors.ts";

const { isIPv4 } = process.getBuiltinModule("node:net");

export interface DnsmasqOptions {
  /** The netboot server as LAN clients reach it (ends in `/`). */
  base: URL;
  /** Folder dnsmasq serves over TFTP, holding undionly.kpxe and ipxe.efi. */
  tftpRoot: string;
  /** What the file is for, in its header. */
  title: string;
  /** Limit dnsmasq to this network interface (default: all). */
  networkInterface?: string;
}

/** iPXE binaries the firmware chainloads: BIOS (through the card's UNDI driver) and UEFI. */
export const IPXE_BIOS = "undionly.kpxe";
export const IPXE_UEFI = "ipxe.efi";

export function renderDnsmasqConfig(options: DnsmasqOptions): string {
  const server = options.base.hostname;
  if (!isIPv4(server)) {
    throw new RootstockError(
      "ERR_NETBOOT_DNSMASQ_ADDRESS",
      `a proxy DHCP configuration needs the server's IPv4 address, and ${options.base.href} names ${server}`,
      {
        hint: "give the server's LAN address: --public-url http://192.168.1.10:8080/ (with the port it listens on)",
      },
    );
  }
  if (server.startsWith("127.")) {
    throw new RootstockError(
      "ERR_NETBOOT_DNSMASQ_ADDRESS",
      `a proxy DHCP configuration for a LAN cannot send its machines to ${options.base.href}: ${server} is loopback, which only this machine reaches`,
      {
        hint: "give the server's LAN address: --public-url http://192.168.1.10:8080/ (with the port it listens on)",
      },
    );
  }
  if (/[\s,#]/.test(options.tftpRoot)) {
    throw new RootstockError(
      "ERR_NETBOOT_DNSMASQ_PATH",
      `dnsmasq cannot be given the TFTP folder ${JSON.stringify(options.tftpRoot)}: it holds a space, comma or #`,
      { hint: "export the bundle to a folder whose path has none of them" },
    );
  }
  const boot = new URL("boot.ipxe", options.base).href;
  return `# ${options.title}
# Proxy DHCP + TFTP for netbooting on a LAN whose router already gives out addresses (dnsmasq then
# hands out no leases). Written by rootstock, not run by it. As root, on a machine of that LAN, while
# rootstock netboot serves ${options.base.href}:
#   dnsmasq --no-daemon --conf-file=THIS-FILE
# PXE firmware gets iPXE over TFTP (${IPXE_BIOS} for BIOS, ${IPXE_UEFI} for UEFI, from ${options.tftpRoot});
# iPXE then fetches ${boot} over HTTP.

# No DNS: only DHCP (proxy) and TFTP.
port=0
log-dhcp
# Proxy mode on the network of ${server}, the netboot server.
dhcp-range=${server},proxy
${options.networkInterface === undefined ? "# interface=eth0" : `interface=${options.networkInterface}`}
dhcp-no-override
enable-tftp
tftp-root=${options.tftpRoot}

# iPXE that speaks HTTP sends option 175 with feature 19; anything else is PXE firmware.
dhcp-match=set:ipxe-http,175,19
pxe-prompt="rootstock netboot",0
pxe-service=tag:!ipxe-http,x86PC,"rootstock: iPXE (BIOS)",${IPXE_BIOS}
pxe-service=tag:!ipxe-http,BC_EFI,"rootstock: iPXE (UEFI)",${IPXE_UEFI}
pxe-service=tag:!ipxe-http,x86-64_EFI,"rootstock: iPXE (UEFI)",${IPXE_UEFI}
dhcp-boot=tag:ipxe-http,${boot}
`;
}
