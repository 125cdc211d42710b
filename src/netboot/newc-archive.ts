/**
 * Appends an uncompressed cpio "newc" archive to an initramfs: the kernel unpacks archives one after
 * another, compressed or not, as long as each starts on a 4-byte boundary. This is how a small
 * squashfs travels inside the initramfs, streamed in without being staged or compressed again.
 */
const { createReadStream } = process.getBuiltinModule("node:fs");
const { open } = process.getBuiltinModule("node:fs/promises");

export type NewcMember =
  | { kind: "dir"; path: string }
  | {
      kind: "file";
      path: string;
      /** The file whose bytes the member holds. */
      source: string;
      size: number;
    };

const DIR_MODE = 0o040755;
const FILE_MODE = 0o100644;
/** newc's size fields are 8 hex digits. */
const MAX_SIZE = 0xffffffff;

/** A member's header and name, padded to 4 bytes; times are 0 and owners root, for reproducibility. */
export function newcHeader(fields: {
  ino: number;
  mode: number;
  nlink: number;
  size: number;
  name: string;
}): Buffer {
  const name = Buffer.from(`${fields.name}\0`);
  const hex = (value: number) => value.toString(16).padStart(8, "0");
  const header = [
    "070701",
    hex(fields.ino),
    hex(fields.mode),
    hex(0), // uid
    hex(0), // gid
    hex(fields.nlink),
    hex(0), // mtime
    hex(fields.size),
    hex(0), // devmajor
    hex(0), // devminor
    hex(0), // rdevmajor
    hex(0), // rdevminor
    hex(name.length),
    hex(0), // check
  ].join("");
  const unpadded = Buffer.concat([Buffer.from(header, "latin1"), name]);
  return Buffer.concat([unpadded, Buffer.alloc(padding(unpadded.length))]);
}

function padding(length: number): number {
  return (4 - (length % 4)) % 4;
}

/** Appends the members (paths without a leading slash) and the trailer to the file at `output`. */
export async function appendNewcArchive(
  output: string,
  members: readonly NewcMember[],
  options: { signal?: AbortSignal } = {},
): Promise<void> {
  const handle = await open(output, "a");
  try {
    let offset = (await handle.stat()).size;
    const write = async (data: Buffer) => {
      await handle.write(data);
      offset += data.length;
    };
    await write(Buffer.alloc(padding(offset)));
    let ino = 1;
    for (const member of members) {
      options.signal?.throwIfAborted();
      if (member.kind === "dir") {
        await write(newcHeader({ ino: ino++, mode: DIR_MODE, nlink: 2, size: 0, name: member.path }));
        continue;
      }
      if (member.size > MAX_SIZE)
        throw new RangeError(`${member.path}: ${member.size} bytes is too large for newc`);
      await write(
        newcHeader({ ino: ino++, mode: FILE_MODE, nlink: 1, size: member.size, name: member.path }),
      );
      let copied = 0;
      for await (const chunk of createReadStream(member.source, {
        signal: options.signal,
        highWaterMark: 1 << 20,
      })) {
        await write(chunk as Buffer);
        copied += (chunk as Buffer).length;
      }
      if (copied !== member.size) throw new Error(`${member.source} changed size while being archived`);
      await write(Buffer.alloc(padding(offset)));
    }
    await write(newcHeader({ ino: 0, mode: 0, nlink: 1, size: 0, name: "TRAILER!!!" }));
  } finally {
    await handle.close();
  }
}
