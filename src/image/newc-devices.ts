/**
 * A cpio "newc" archive of device nodes only. The cpio tool archives what is on disk, and a rootless
 * build cannot create device nodes there; the kernel unpacks concatenated archives, so these follow the
 * tool's archive in the initramfs.
 */
import type { DeviceNode } from "./image-spec.ts";
import { IMAGE_TIME } from "./stage-tree.ts";

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;

/** The name of the entry that ends a newc archive. */
export const TRAILER = "TRAILER!!!";

export function newcDevices(devices: readonly DeviceNode[]): Buffer {
  const parts: Buffer[] = [];
  // Inode numbers far above those `cpio --reproducible` hands out; nlink 1 so none is taken for a hard link.
  devices.forEach((device, index) => {
    const type = device.type === "char" ? S_IFCHR : S_IFBLK;
    parts.push(entry(device.path, 0x7fff0000 + index, type | (device.mode & 0o7777), device));
  });
  parts.push(entry(TRAILER, 0, 0, { uid: 0, gid: 0, major: 0, minor: 0 }));
  return Buffer.concat(parts);
}

function entry(
  name: string,
  inode: number,
  mode: number,
  owner: { uid: number; gid: number; major: number; minor: number },
): Buffer {
  const nameBytes = Buffer.from(`${name}\0`);
  const fields = [
    inode,
    mode,
    owner.uid,
    owner.gid,
    1,
    IMAGE_TIME,
    0,
    0,
    0,
    owner.major,
    owner.minor,
    nameBytes.length,
    0,
  ];
  const header = `070701${fields.map((value) => value.toString(16).padStart(8, "0")).join("")}`;
  const unpadded = Buffer.concat([Buffer.from(header, "ascii"), nameBytes]);
  return Buffer.concat([unpadded, Buffer.alloc((4 - (unpadded.length % 4)) % 4)]);
}
