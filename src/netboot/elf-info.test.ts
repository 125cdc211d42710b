import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { readElfInfo } from "./elf-info.ts";

/** A minimal ELF64 little-endian header with one program header, optionally PT_INTERP. */
function elf64(interpreter?: string): Buffer {
  const data = Buffer.alloc(64 + 56 + 32);
  data.writeUInt32BE(0x7f454c46, 0);
  data[4] = 2;
  data[5] = 1;
  data.writeUInt16LE(62, 18);
  data.writeBigUInt64LE(64n, 32);
  data.writeUInt16LE(56, 54);
  data.writeUInt16LE(1, 56);
  data.writeUInt32LE(interpreter === undefined ? 1 : 3, 64);
  if (interpreter !== undefined) {
    data.writeBigUInt64LE(120n, 64 + 8);
    data.writeBigUInt64LE(BigInt(interpreter.length + 1), 64 + 32);
    data.write(interpreter, 120, "latin1");
  }
  return data;
}

describe("readElfInfo", () => {
  test("a program interpreter is read; a static program has none", () => {
    assert.deepEqual(readElfInfo(elf64("/lib/ld-musl-x86_64.so.1")), {
      machine: 62,
      bits: 64,
      interpreter: "/lib/ld-musl-x86_64.so.1",
    });
    assert.deepEqual(readElfInfo(elf64()), { machine: 62, bits: 64 });
  });

  test("the host's own programs: a dynamic sh, Debian's static busybox", () => {
    const sh = readElfInfo(readFileSync("/bin/dash"));
    assert.match(sh?.interpreter ?? "", /ld-linux/);
    assert.equal(readElfInfo(readFileSync("/bin/busybox"))?.interpreter, undefined);
  });

  test("not ELF, or a header that points past the end, is undefined", () => {
    assert.equal(readElfInfo(Buffer.from("#!/bin/sh\necho hello\n".padEnd(80))), undefined);
    const truncated = elf64("/lib/ld.so");
    truncated.writeBigUInt64LE(10_000n, 32);
    assert.equal(readElfInfo(truncated), undefined);
  });
});
