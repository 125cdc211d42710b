/** A person at the serial console of a real guest: typing, seeing the answer, leaving with Ctrl-]. */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
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
