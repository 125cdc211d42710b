/**
 * Rewrites fields of a newc archive's headers in place. The cpio tool copies them from the staged
 * files, and some of those depend on where the store lies rather than on the image: a folder's link
 * count (btrfs says 1, ext4 2 and one for each subfolder), and a mode a rootless build opened so that
 * it could read the file.
 */
import { TRAILER } from "./newc-devices.ts";

const { open } = process.getBuiltinModule("node:fs/promises");

const HEADER = 110;
const MODE = 1;
const NLINK = 4;
const FILESIZE = 6;
const NAMESIZE = 11;
const S_IFMT = 0o170000;

export interface NewcFields {
  /** Permission bits, with setuid, setgid and sticky (the file type is kept). */
  mode: number;
  nlink: number;
}

/**
 * Calls `change` with each entry's name and fields, and writes back what it returns, up to the first
 * archive's end.
 */
export async function setNewcFields(
  file: string,
  change: (name: string, fields: NewcFields) => NewcFields,
  signal?: AbortSignal,
): Promise<void> {
  const handle = await open(file, "r+");
  try {
    // A header and a name of up to PATH_MAX bytes are read at once.
    const buffer = Buffer.alloc(HEADER + 4096);
    let position = 0;
    for (;;) {
      signal?.throwIfAborted();
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
      if (bytesRead < HEADER || buffer.toString("ascii", 0, 6) !== "070701")
        throw new Error(`no newc header at byte ${position} of ${file}`);
      const field = (index: number) =>
        Number.parseInt(buffer.toString("ascii", 6 + index * 8, 14 + index * 8), 16);
      const nameSize = field(NAMESIZE);
      const name = buffer.toString("utf8", HEADER, HEADER + nameSize - 1);
      if (name === TRAILER) return;
      const mode = field(MODE);
      const fields = { mode: mode & 0o7777, nlink: field(NLINK) };
      const wanted = change(name, fields);
      const write = async (index: number, value: number) => {
        // Upper case, as the cpio tool writes them: the same value gives the same bytes.
        const hex = Buffer.from(value.toString(16).toUpperCase().padStart(8, "0"), "ascii");
        await handle.write(hex, 0, 8, position + 6 + index * 8);
      };
      if (wanted.mode !== fields.mode) await write(MODE, (mode & S_IFMT) | wanted.mode);
      if (wanted.nlink !== fields.nlink) await write(NLINK, wanted.nlink);
      position = align4(align4(position + HEADER + nameSize) + field(FILESIZE));
    }
  } finally {
    await handle.close();
  }
}

function align4(offset: number): number {
  return Math.ceil(offset / 4) * 4;
}
