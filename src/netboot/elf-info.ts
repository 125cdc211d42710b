/**
 * The little an ELF header says about whether a program can run alone in an initramfs: its machine,
 * and its program interpreter (the dynamic loader), which a static program does not have.
 */

export interface ElfInfo {
  /** e_machine: 62 x86_64, 183 aarch64, 243 riscv, 3 i386. */
  machine: number;
  bits: 32 | 64;
  /** PT_INTERP: the loader a dynamically linked program needs; absent for a static one. */
  interpreter?: string;
}

const PT_INTERP = 3;

export const ELF_MACHINES: Record<string, number> = { x86_64: 62, aarch64: 183, riscv64: 243, i686: 3 };

/** Reads an ELF header and program headers; undefined when `data` is not an ELF file it can read. */
export function readElfInfo(data: Buffer): ElfInfo | undefined {
  if (data.length < 52 || data.readUInt32BE(0) !== 0x7f454c46) return undefined;
  const bits = data[4] === 2 ? 64 : data[4] === 1 ? 32 : undefined;
  const little = data[5] === 1 ? true : data[5] === 2 ? false : undefined;
  if (bits === undefined || little === undefined) return undefined;
  const u16 = (offset: number) => (little ? data.readUInt16LE(offset) : data.readUInt16BE(offset));
  const u32 = (offset: number) => (little ? data.readUInt32LE(offset) : data.readUInt32BE(offset));
  const word = (offset: number) =>
    bits === 64 ? Number(little ? data.readBigUInt64LE(offset) : data.readBigUInt64BE(offset)) : u32(offset);
  try {
    const machine = u16(18);
    const phoff = word(bits === 64 ? 32 : 28);
    const phentsize = u16(bits === 64 ? 54 : 42);
    const phnum = u16(bits === 64 ? 56 : 44);
    let interpreter: string | undefined;
    for (let index = 0; index < phnum; index++) {
      const header = phoff + index * phentsize;
      if (u32(header) !== PT_INTERP) continue;
      const offset = word(header + (bits === 64 ? 8 : 4));
      const size = word(header + (bits === 64 ? 32 : 16));
      interpreter = data
        .subarray(offset, offset + size)
        .toString("latin1")
        .replace(/\0+$/, "");
    }
    return { machine, bits, ...(interpreter === undefined ? {} : { interpreter }) };
  } catch {
    // A header that points past the end of the file.
    return undefined;
  }
}
