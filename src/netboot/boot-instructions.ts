/**
 * What to tell a person once the server listens: the line to type at an iPXE prompt, a QEMU command
 * that netboots from it, and the kexec line, each with a URL the client can reach. QEMU's user network
 * shows the host's IPv4 loopback (not ::1) to a guest as 10.0.2.2; no other machine reaches a loopback
 * address, so a server on one gets no iPXE prompt line, and a kexec line only when the system is
 * embedded in its RAM root. With a public URL, boot.ipxe sends clients there, so a QEMU guest is
 * offered only what that URL reaches.
 */
import { chainCommand } from "./ipxe-script.ts";
import { formatHostPort, isLoopback } from "./server-address.ts";

export interface BootInstruction {
  /** Who it is for: "iPXE prompt", "QEMU", "running Linux". */
  what: string;
  line: string;
}

export interface ServerView {
  /** The address listened on and its port. */
  address: string;
  port: number;
  /** --public-url, when given. */
  publicBase?: URL;
  /** This machine's non-loopback IPv4 addresses, for a server listening on every interface. */
  hostAddresses?: string[];
  /** The system's squashfs is inside the RAM root: a booted system fetches nothing more. */
  embedded?: boolean;
  /** The bundle is not a PC's (an aarch64 plan): no QEMU line, which would start an x86 machine. */
  notPc?: boolean;
}

export const QEMU_HOST = "10.0.2.2";

/** Said where there is no boot line to give: a server on loopback that no guest here can use. */
export const NO_BOOT_LINE =
  "nothing but this machine reaches a server on this address, and kexec would take it away";

export function bootInstructions(server: ServerView): BootInstruction[] {
  // QEMU's 10.0.2.2 is the host's 127.0.0.1, not any other loopback address.
  const qemuReaches = server.address === "127.0.0.1";
  const loopback = isLoopback(server.address);
  const everywhere = server.address === "0.0.0.0" || server.address === "::";
  const bases: URL[] = server.publicBase
    ? [server.publicBase]
    : everywhere
      ? (server.hostAddresses ?? []).map(
          (address) => new URL(`http://${formatHostPort(address, server.port)}/`),
        )
      : [new URL(`http://${formatHostPort(server.address, server.port)}/`)];
  const lines: BootInstruction[] =
    loopback && !server.publicBase
      ? []
      : bases.map((base) => ({ what: "at an iPXE prompt", line: chainCommand(base) }));
  if ((qemuReaches || everywhere) && !server.publicBase && !server.notPc) {
    const guest = new URL(`http://${QEMU_HOST}:${server.port}/`);
    lines.push({ what: "a QEMU guest (user network)", line: chainCommand(guest) });
    lines.push({
      what: "or boot one now",
      line: `qemu-system-x86_64 -m 512M -nographic -boot n -nic user,model=virtio-net-pci,bootfile=${new URL("boot.ipxe", guest).href}`,
    });
  }
  const first = bases[0];
  // kexec replaces this machine, its server with it: on loopback, a system that still has its squashfs
  // to fetch would ask a server that is gone.
  if (first && (!loopback || server.publicBase || server.embedded)) {
    lines.push({
      what: "from a running Linux",
      line: `wget -O kexec-boot ${new URL("kexec-boot", first).href} && sh kexec-boot`,
    });
  }
  return lines;
}
