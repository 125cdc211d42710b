import assert from "node:assert/strict";
import { test } from "node:test";
import { qemuArgs } from "./qemu-args.ts";

const paths = {
  consoleSocket: "/tmp/s/console.sock",
  qmpSocket: "/tmp/s/qmp.sock",
  consoleLog: "/runs/a,b/console.log",
};

test("a TCG machine with a kernel, an initrd, a console and QMP", () => {
  const args = qemuArgs(
    {
      name: "m1",
      kernel: "/k/bzImage",
      initrd: "/i/initrd",
      cmdline: "console=ttyS0 quiet",
      memoryBytes: 512 * 1024 * 1024,
    },
    { accel: "tcg", paths, disks: [] },
  );
  const value = (flag: string) => args[args.indexOf(flag) + 1];
  assert.equal(value("-accel"), "tcg");
  assert.ok(!args.includes("-cpu"), "TCG keeps QEMU's default CPU, which boots fastest");
  assert.equal(value("-m"), "512M");
  assert.equal(value("-kernel"), "/k/bzImage");
  assert.equal(value("-initrd"), "/i/initrd");
  assert.equal(value("-append"), "console=ttyS0 quiet");
  assert.ok(
    args.includes("socket,id=console,path=/tmp/s/console.sock,logfile=/runs/a,,b/console.log,logappend=on"),
  );
  assert.equal(value("-serial"), "chardev:console");
  assert.ok(args.includes("socket,id=qmp,path=/tmp/s/qmp.sock"));
  assert.equal(value("-mon"), "chardev=qmp,mode=control");
  assert.equal(value("-nic"), "none");
  assert.ok(args.includes("-nodefaults"));
  assert.ok(!args.includes("-no-reboot"), "a guest reboot restarts the guest, so reboot tests work");
});

test("KVM uses the host CPU; disks are virtio, read-only when asked", () => {
  const args = qemuArgs(
    { name: "m2", kernel: "/k", network: true },
    {
      accel: "kvm",
      paths,
      disks: [
        { file: "/run/disk0.qcow2", format: "qcow2", readOnly: false },
        { file: "/store/root.squashfs", format: "raw", readOnly: true },
      ],
    },
  );
  assert.deepEqual(args.slice(args.indexOf("-cpu"), args.indexOf("-cpu") + 2), ["-cpu", "host"]);
  const drives = args.flatMap((arg, index) => (args[index - 1] === "-drive" ? [arg] : []));
  assert.deepEqual(drives, [
    "file=/run/disk0.qcow2,if=virtio,format=qcow2",
    "file=/store/root.squashfs,if=virtio,format=raw,readonly=on",
  ]);
  assert.equal(args[args.indexOf("-nic") + 1], "user,model=virtio-net-pci");
  assert.ok(!args.includes("-initrd"));
});

test("a netboot: no kernel, the NIC's iPXE boots the bootfile, firmware on the serial console", () => {
  const args = qemuArgs(
    { name: "m3", netboot: { bootfile: "http://10.0.2.2:8080/boot.ipxe?a=1,2", probeKernel: "/k" } },
    { accel: "tcg", paths, disks: [] },
  );
  const value = (flag: string) => args[args.indexOf(flag) + 1];
  assert.ok(!args.includes("-kernel"), "the kernel comes from the network");
  assert.equal(value("-boot"), "n");
  assert.equal(value("-machine"), "pc,graphics=off");
  assert.equal(value("-nic"), "user,model=virtio-net-pci,bootfile=http://10.0.2.2:8080/boot.ipxe?a=1,,2");
  assert.equal(value("-serial"), "chardev:console");
});

test("a machine with neither a kernel nor a netboot is a bug in its caller", () => {
  assert.throws(() => qemuArgs({ name: "m4" }, { accel: "tcg", paths, disks: [] }), /neither a kernel nor/);
});
