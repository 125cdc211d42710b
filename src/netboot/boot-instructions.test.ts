import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { bootInstructions } from "./boot-instructions.ts";

describe("bootInstructions", () => {
  test("on loopback: the chain line for a QEMU guest, a QEMU command, and kexec of an embedded system; no machine's iPXE reaches it", () => {
    assert.deepEqual(bootInstructions({ address: "127.0.0.1", port: 8080, embedded: true }), [
      { what: "a QEMU guest (user network)", line: "chain http://10.0.2.2:8080/boot.ipxe" },
      {
        what: "or boot one now",
        line: "qemu-system-x86_64 -m 512M -nographic -boot n -nic user,model=virtio-net-pci,bootfile=http://10.0.2.2:8080/boot.ipxe",
      },
      {
        what: "from a running Linux",
        line: "wget -O kexec-boot http://127.0.0.1:8080/kexec-boot && sh kexec-boot",
      },
    ]);
  });

  test("a bundle of another arch than a PC's gets no QEMU lines, which would start an x86 machine", () => {
    assert.deepEqual(bootInstructions({ address: "127.0.0.1", port: 8080, embedded: true, notPc: true }), [
      {
        what: "from a running Linux",
        line: "wget -O kexec-boot http://127.0.0.1:8080/kexec-boot && sh kexec-boot",
      },
    ]);
  });

  test("on every interface: one chain line per host address; a public URL wins over all", () => {
    const everywhere = bootInstructions({
      address: "0.0.0.0",
      port: 80,
      hostAddresses: ["192.168.1.10", "10.1.2.3"],
    });
    assert.deepEqual(
      everywhere.filter((item) => item.what === "at an iPXE prompt").map((item) => item.line),
      ["chain http://192.168.1.10/boot.ipxe", "chain http://10.1.2.3/boot.ipxe"],
    );
    const published = bootInstructions({
      address: "192.168.1.10",
      port: 8080,
      publicBase: new URL("http://boot.lan:8080/"),
    });
    assert.deepEqual(published, [
      { what: "at an iPXE prompt", line: "chain http://boot.lan:8080/boot.ipxe" },
      {
        what: "from a running Linux",
        line: "wget -O kexec-boot http://boot.lan:8080/kexec-boot && sh kexec-boot",
      },
    ]);
  });

  test("on ::1 or 127.0.0.2, which QEMU's user network does not reach (10.0.2.2 is the host's 127.0.0.1): kexec only", () => {
    assert.deepEqual(bootInstructions({ address: "::1", port: 9, embedded: true }), [
      { what: "from a running Linux", line: "wget -O kexec-boot http://[::1]:9/kexec-boot && sh kexec-boot" },
    ]);
    assert.deepEqual(bootInstructions({ address: "127.0.0.2", port: 9, embedded: true }), [
      {
        what: "from a running Linux",
        line: "wget -O kexec-boot http://127.0.0.2:9/kexec-boot && sh kexec-boot",
      },
    ]);
  });

  test("on loopback, no kexec line for a system whose squashfs the booted machine would fetch from a server kexec took away", () => {
    assert.deepEqual(
      bootInstructions({ address: "127.0.0.1", port: 8080 }).map((item) => item.what),
      ["a QEMU guest (user network)", "or boot one now"],
    );
    assert.deepEqual(bootInstructions({ address: "::1", port: 9 }), []);
  });

  test("a public URL is what boot.ipxe sends clients to: no QEMU line on loopback that would not reach it", () => {
    const lines = bootInstructions({
      address: "127.0.0.1",
      port: 8080,
      publicBase: new URL("http://192.0.2.2:8080/"),
    });
    assert.deepEqual(
      lines.map((item) => item.what),
      ["at an iPXE prompt", "from a running Linux"],
    );
    assert.equal(lines[0]?.line, "chain http://192.0.2.2:8080/boot.ipxe");
  });
});
