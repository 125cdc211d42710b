/** What a virtual machine is made of, and the QEMU command line for it. Pure. */

export type Accelerator = "kvm" | "tcg";

export interface VmDisk {
  /** An image file; the guest sees disks as /dev/vda, /dev/vdb, … in order. */
  path: string;
  format?: "raw" | "qcow2";
  /** Attached read-only (squashfs, say). */
  readOnly?: boolean;
  /** Write to the file itself; otherwise writes go to an overlay in the run folder and the image stays as it was. */
  persist?: boolean;
}

export interface VmSpec {
  /** Names the machine in events and file names. */
  name: string;
  /** The kernel QEMU loads itself; a machine without one must netboot. */
  kernel?: string;
  initrd?: string;
  cmdline?: string;
  disks?: VmDisk[];
  /** Default 256 MiB. */
  memoryBytes?: number;
  /** Default 1. */
  cpus?: number;
  /** QEMU's user-mode network with a virtio NIC (the host is 10.0.2.2); default none. */
  network?: boolean;
  /** Boot from the network instead of a kernel: see VmNetboot. */
  netboot?: VmNetboot;
}

/**
 * The NIC's own iPXE ROM boots the machine (`-boot n`) and fetches `bootfile` (an http URL; the host's
 * loopback is 10.0.2.2) given out by the user network's DHCP server. SeaBIOS and iPXE print on the
 * serial console, so a test sees the whole boot.
 */
export interface VmNetboot {
  bootfile: string;
  /**
   * The kernel the bootfile leads to, when it is on this machine: the KVM probe boots it. Without one
   * there is nothing honest to probe with, and the machine runs under TCG unless a probe already ran.
   */
  probeKernel?: string;
}

export interface QemuPaths {
  consoleSocket: string;
  qmpSocket: string;
  consoleLog: string;
}

/** A disk as QEMU opens it: the image itself, or the overlay in front of it. */
export interface AttachedDisk {
  file: string;
  format: "raw" | "qcow2";
  readOnly: boolean;
}

export const DEFAULT_MEMORY = 256 * 1024 * 1024;

export function qemuArgs(
  spec: VmSpec,
  options: { accel: Accelerator; paths: QemuPaths; disks: AttachedDisk[] },
): string[] {
  const { paths } = options;
  const { netboot } = spec;
  if (spec.kernel === undefined && netboot === undefined) {
    throw new Error(`bug: machine ${spec.name} has neither a kernel nor a netboot bootfile`);
  }
  const memoryMiB = Math.max(16, Math.round((spec.memoryBytes ?? DEFAULT_MEMORY) / (1024 * 1024)));
  const args = [
    "-name",
    spec.name,
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    "-machine",
    // Without a VGA card (-nodefaults), graphics=off makes SeaBIOS and the NIC's iPXE print on serial.
    netboot === undefined ? "pc" : "pc,graphics=off",
    "-accel",
    options.accel,
    ...(options.accel === "kvm" ? ["-cpu", "host"] : []),
    "-m",
    `${memoryMiB}M`,
    "-smp",
    String(spec.cpus ?? 1),
    ...(spec.kernel === undefined ? [] : ["-kernel", spec.kernel]),
    ...(netboot === undefined ? [] : ["-boot", "n"]),
    ...(spec.initrd === undefined ? [] : ["-initrd", spec.initrd]),
    ...(spec.cmdline === undefined ? [] : ["-append", spec.cmdline]),
    // QEMU connects to sockets rootstock listens on, before the guest starts: no output is lost.
    "-chardev",
    `socket,id=console,path=${optionValue(paths.consoleSocket)},logfile=${optionValue(paths.consoleLog)},logappend=on`,
    "-serial",
    "chardev:console",
    "-chardev",
    `socket,id=qmp,path=${optionValue(paths.qmpSocket)}`,
    "-mon",
    "chardev=qmp,mode=control",
  ];
  for (const disk of options.disks) {
    args.push(
      "-drive",
      `file=${optionValue(disk.file)},if=virtio,format=${disk.format}${disk.readOnly ? ",readonly=on" : ""}`,
    );
  }
  args.push(
    "-nic",
    netboot !== undefined
      ? `user,model=virtio-net-pci,bootfile=${optionValue(netboot.bootfile)}`
      : spec.network
        ? "user,model=virtio-net-pci"
        : "none",
  );
  return args;
}

/** QEMU option values escape a comma by doubling it. */
function optionValue(value: string): string {
  return value.replaceAll(",", ",,");
}
