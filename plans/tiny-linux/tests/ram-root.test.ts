/**
 * The system netbooted into RAM: the system's cases, then what only a RAM root shows. Its root is an
 * overlay of a tmpfs on the squashfs, and a folder that came from the image can be removed (the
 * kernel's tmpfs has extended attributes, which the overlay needs for that).
 */
import assert from "node:assert/strict";
import type { TestModule } from "rootstock/check";
import system from "./system.test.ts";

export { evidence } from "./system.test.ts";

export default {
  ...system,

  async "runs from an overlay of RAM on the squashfs"(machine) {
    const mounts = await machine.succeed("cat /proc/mounts");
    const at = (point: string) =>
      mounts
        .split("\n")
        .map((line) => line.split(" "))
        .find((fields) => fields[1] === point)?.[2];
    assert.equal(at("/"), "overlay", `the root is an overlay:\n${mounts}`);
    assert.equal(at("/.rootstock/ram"), "tmpfs", "its upper layer is in RAM");
    assert.equal(at("/.rootstock/lower"), "squashfs", "its lower layer is the system image");
  },

  async "removes a folder that came from the image"(machine) {
    assert.doesNotMatch(machine.consoleLog(), /no extended attributes/, "the RAM root gave no warning");
    await machine.succeed("rm -r /usr/include/linux && test ! -e /usr/include/linux");
    await machine.succeed("test -d /.rootstock/lower/usr/include/linux");
  },
} satisfies TestModule;
