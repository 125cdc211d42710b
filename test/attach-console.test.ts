/** A person at the serial console of a real guest: typing, seeing the answer, leaving with Ctrl-]. */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { after, before, test } from "node:test";
import { attachConsole } from "../src/vm/attach-console.ts";
import { startQemu } from "../src/vm/qemu-vm.ts";
import { CMDLINE, type TestGuest, testGuest } from "./fixtures/guest.ts";

let work: string;
let guest: TestGuest;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "rootstock-attach-test-"));
  guest = await testGuest({ storeDir: work });
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

test("keys go to the guest, its output to the terminal; Ctrl-] leaves, then poweroff ends it", async () => {
  const vm = await startQemu(
    { name: "attached", kernel: guest.kernel, initrd: guest.initrd.path, cmdline: CMDLINE },
    { runDir: join(work, "run"), accel: "tcg" },
  );
  // The machine's folder holds its disk overlays and console: its owner's alone.
  assert.equal((await stat(join(work, "run"))).mode & 0o777, 0o700);
  try {
    const input = new PassThrough();
    const output = new PassThrough();
    let seen = "";
    output.on("data", (chunk: Buffer) => {
      seen += chunk.toString();
    });
    const session = attachConsole(vm, { input, output });
    await new Promise<void>((resolve) => {
      const off = vm.console.onUpdate(({ partial }) => {
        if (/# $/.test(partial)) {
          off();
          resolve();
        }
      });
    });
    // A terminal in raw mode sends a carriage return for Enter.
    input.write("echo typed-$((40+2))\r");
    await new Promise<void>((resolve) => {
      const off = vm.console.onUpdate(({ lines }) => {
        if (lines.includes("typed-42")) {
          off();
          resolve();
        }
      });
    });
    input.write(Buffer.from([0x65, 0x1d, 0x66]));
    assert.equal(await session, "detached");
    assert.match(seen, /typed-42\r\n/, "the terminal got the guest's bytes as they were");
    assert.equal(vm.running, true, "leaving the console does not stop the machine");

    const again = attachConsole(vm, { input, output });
    input.write("\u0015poweroff -f\r");
    assert.equal(await again, "exited");
    assert.equal(vm.running, false);
  } finally {
    await vm.kill();
  }
});

test("a QEMU that is not on PATH is said so, before any accelerator probe (which would blame KVM)", async () => {
  await assert.rejects(
    startQemu(
      { name: "absent", kernel: guest.kernel, initrd: guest.initrd.path, cmdline: CMDLINE },
      { runDir: join(work, "absent"), qemu: "qemu-system-rootstock-absent" },
    ),
    (error: unknown) => {
      assert.ok(error instanceof Error && "code" in error);
      assert.equal(error.code, "ERR_HOST_TOOL_MISSING");
      assert.match(error.message, /qemu-system-rootstock-absent is not on this host's PATH/);
      return true;
    },
  );
});

test("a $TMPDIR where QEMU's sockets cannot go is named, with a hint, not a raw EROFS", async () => {
  const readOnly = join(work, "read-only-tmp");
  await mkdir(readOnly, { recursive: true });
  // A file in its place: mkdtemp fails (ENOTDIR) as it does on a read-only TMPDIR, for root too.
  const before = process.env.TMPDIR;
  process.env.TMPDIR = join(readOnly, "file");
  await writeFile(process.env.TMPDIR, "");
  try {
    await assert.rejects(
      startQemu(
        { name: "tmpdir", kernel: guest.kernel, initrd: guest.initrd.path, cmdline: CMDLINE },
        { runDir: join(work, "tmpdir"), accel: "tcg" },
      ),
      (error: unknown) => {
        assert.ok(error instanceof Error && "code" in error);
        assert.equal(error.code, "ERR_VM_START_FAILED");
        assert.match(error.message, /cannot make a folder for QEMU's sockets in \S+\/file \(\$TMPDIR\)/);
        assert.match((error as { hint?: string }).hint ?? "", /set it to a short folder you can write/);
        return true;
      },
    );
  } finally {
    if (before === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = before;
  }
});

test("a QEMU that cannot start says why in its own words, and one disk persisted twice is refused first", async () => {
  await assert.rejects(
    startQemu(
      { name: "no-initrd", kernel: guest.kernel, initrd: join(work, "no-such-initrd"), cmdline: CMDLINE },
      { runDir: join(work, "no-initrd"), accel: "tcg" },
    ),
    (error: unknown) => {
      assert.ok(error instanceof Error && "code" in error);
      assert.equal(error.code, "ERR_VM_START_FAILED");
      assert.match(error.message, /no-such-initrd/, "QEMU's own message is quoted");
      return true;
    },
  );
  const disk = join(work, "twice.img");
  await writeFile(disk, Buffer.alloc(1 << 20));
  await assert.rejects(
    startQemu(
      {
        name: "twice",
        kernel: guest.kernel,
        initrd: guest.initrd.path,
        cmdline: CMDLINE,
        disks: [
          { path: disk, persist: true },
          { path: disk, persist: true },
        ],
      },
      { runDir: join(work, "twice"), accel: "tcg" },
    ),
    (error: unknown) => {
      assert.ok(error instanceof Error && "code" in error);
      assert.equal(error.code, "ERR_VM_DISK");
      assert.match(error.message, /twice\.img is attached twice, and written through both/);
      return true;
    },
  );
});
