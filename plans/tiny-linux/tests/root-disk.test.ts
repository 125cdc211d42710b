/**
 * The system on its ext4 root disk: it boots the plan's kernel (as in system.test.ts), then what only
 * a disk can show. A file written before a reboot is there after it while one in RAM is gone, and
 * after `poweroff` the disk is clean. The compiler and the host-leftover audit are not repeated here:
 * this image has the same contents as the initramfs, where they run.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { Machine, TestModule } from "rootstock/check";
import { ext4Health } from "./ext4-health.ts";
import system from "./system.test.ts";

export default {
  "boots the plan's kernel to a shell": system["boots the plan's kernel to a shell"],

  async "keeps a file on its root disk across a reboot"(machine) {
    const root = (await machine.succeed("awk '$2 == \"/\" { print $1, $3 }' /proc/mounts")).trim();
    assert.match(root, /^\S+ ext4$/, "the root is the ext4 disk");
    const token = randomBytes(8).toString("hex");
    await machine.succeed(`echo ${token} > /root/kept && echo ${token} > /tmp/forgotten && sync`);
    await machine.reboot();
    assert.equal((await machine.succeed("cat /root/kept")).trim(), token);
    // /tmp is a tmpfs: a file there outliving the reboot would mean there was none.
    await machine.fail("test -e /tmp/forgotten");
  },

  async "powers off cleanly, leaving its disk clean"(machine) {
    const disks = await powerOff(machine);
    const [root] = disks;
    assert.ok(root, "the machine had a root disk");
    const health = await ext4Health(root);
    assert.equal(health.state, "clean", "the superblock says clean");
    assert.equal(health.needsRecovery, false, "no journal to replay");
    assert.equal(health.fsck.status, 0, `e2fsck -fn finds nothing:\n${health.fsck.output}`);
  },
} satisfies TestModule;

/**
 * A clean power-off, as a person makes one: `poweroff` typed at the prompt. busybox init then runs its
 * shutdown actions (inittab remounts the root read-only), ends every process and has the kernel power
 * off through ACPI; QEMU exits. machine.shutdown() cannot show this: it sends `sync; poweroff -f`,
 * which skips init and leaves a journal to replay. rootstock also ends QEMU when the console says
 * `reboot: Power down`, so QEMU's exit alone does not prove ACPI works; the kernel's report of the S5
 * state does. Returns the files QEMU wrote the disks to (copy-on-write overlays), in order.
 */
async function powerOff(machine: Machine): Promise<string[]> {
  await machine.succeed("dmesg | grep -E 'ACPI: PM: \\(supports .*S5'");
  const vm = machine.vm;
  assert.ok(vm?.running, "the machine runs");
  const poweredDown = machine.waitForConsole(/reboot: Power down/, { timeout: 30_000 });
  vm.console.write("poweroff\n");
  await poweredDown;
  assert.deepEqual(await vm.exited, { code: 0, signal: null }, "QEMU exits with status 0");
  return driveFiles(vm.command);
}

/** `-drive file=PATH,...` values of a QEMU command line (QEMU doubles a comma inside a value). */
function driveFiles(command: readonly string[]): string[] {
  const files: string[] = [];
  for (const [index, arg] of command.entries()) {
    if (arg !== "-drive") continue;
    const match = /^file=((?:[^,]|,,)*)/.exec(command[index + 1] ?? "");
    if (match?.[1] !== undefined) files.push(match[1].replaceAll(",,", ","));
  }
  return files;
}
