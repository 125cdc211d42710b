import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { RootstockError } from "../errors.ts";
import { renderIndex } from "./bundle-entries.ts";
import { renderDnsmasqConfig } from "./dnsmasq-config.ts";
import { chainCommand, renderIpxeScript } from "./ipxe-script.ts";
import { renderKexecScript } from "./kexec-script.ts";
import { type NetbootManifest, netbootCmdline } from "./netboot-manifest.ts";

const hash = (digit: string) => digit.repeat(64);

function manifest(extra: Partial<NetbootManifest> = {}): NetbootManifest {
  return {
    format: "rootstock-netboot-1",
    key: hash("k"),
    plan: "tiny-linux",
    image: "system",
    files: {
      vmlinuz: { sha256: hash("1"), size: 100 },
      "initrd.img": { sha256: hash("2"), size: 200 },
      "system.squashfs": { sha256: hash("3"), size: 300 },
    },
    cmdline: "console=ttyS0 quiet",
    init: "/sbin/init",
    squashfs: { sha256: hash("3"), size: 300 },
    ramRoot: { busybox: { sha256: hash("4"), size: 50 }, bytes: 200 },
    ...extra,
  };
}

const base = new URL("http://10.0.2.2:8080/");

describe("netboot command line", () => {
  test("names the squashfs by the URL the client used, its hash, size and the init", () => {
    assert.equal(
      netbootCmdline(manifest(), base),
      `console=ttyS0 quiet rootstock.squashfs=http://10.0.2.2:8080/system.squashfs rootstock.sha256=${hash("3")} rootstock.size=300 rootstock.init=/sbin/init`,
    );
  });

  test("an embedded squashfs is named by its path in the initramfs; an empty plan cmdline adds no space", () => {
    const embedded = manifest({
      cmdline: "",
      squashfs: { sha256: hash("3"), size: 300, embedded: "/rootstock/system.squashfs" },
    });
    assert.equal(
      netbootCmdline(embedded, base),
      `rootstock.squashfs=/rootstock/system.squashfs rootstock.sha256=${hash("3")} rootstock.size=300 rootstock.init=/sbin/init`,
    );
  });

  test("a server under a path prefix keeps it", () => {
    assert.match(
      netbootCmdline(manifest(), new URL("http://boot.example:81/lab/")),
      /rootstock\.squashfs=http:\/\/boot\.example:81\/lab\/system\.squashfs /,
    );
  });
});

describe("iPXE script", () => {
  test("kernel with the exact command line, initrd, boot, and a way back on failure", () => {
    const script = renderIpxeScript(manifest(), base);
    const lines = script.split("\n");
    assert.equal(lines[0], "#!ipxe");
    assert.ok(
      lines.includes(
        `kernel http://10.0.2.2:8080/vmlinuz initrd=initrd.img ${netbootCmdline(manifest(), base)} || goto failed`,
      ),
      script,
    );
    assert.ok(lines.includes("initrd http://10.0.2.2:8080/initrd.img || goto failed"));
    assert.ok(lines.indexOf("boot || goto failed") < lines.indexOf(":failed"));
    assert.equal(lines.at(-2), "shell");
    assert.doesNotMatch(script, /\$\{/, "no iPXE variables: every value is written out");
  });

  test("the line to type at an iPXE prompt", () => {
    assert.equal(chainCommand(base), "chain http://10.0.2.2:8080/boot.ipxe");
  });
});

describe("kexec-boot script", () => {
  test("checks both files against their hashes and loads them with the command line", () => {
    const script = renderKexecScript(manifest(), base, { filesBeside: false });
    assert.match(script, /^#!\/bin\/sh\n/);
    assert.ok(script.includes(`fetch vmlinuz ${hash("1")}\n`));
    assert.ok(script.includes(`fetch initrd.img ${hash("2")}\n`));
    assert.ok(script.includes(`cmdline='${netbootCmdline(manifest(), base)}'`));
    assert.ok(script.includes("base=http://10.0.2.2:8080/\n"));
    assert.match(
      script,
      /kexec -l "\$work\/vmlinuz" --initrd="\$work\/initrd.img" --command-line="\$cmdline"/,
    );
    // Only an exported bundle's copy looks beside itself.
    assert.ok(script.includes("\nhere=\n"));
    assert.ok(
      renderKexecScript(manifest(), base, { filesBeside: true }).includes('\nhere=$(dirname "$0")\n'),
    );
  });
});

describe("dnsmasq configuration", () => {
  test("proxy DHCP on the server's network, iPXE over TFTP, then boot.ipxe over HTTP", () => {
    const config = renderDnsmasqConfig({
      base: new URL("http://192.168.1.10:8080/"),
      tftpRoot: "/srv/netboot/tftp",
      title: "rootstock netboot: tiny-linux",
    });
    const lines = config.split("\n");
    for (const line of [
      "port=0",
      "dhcp-range=192.168.1.10,proxy",
      "enable-tftp",
      "tftp-root=/srv/netboot/tftp",
      "dhcp-match=set:ipxe-http,175,19",
      'pxe-service=tag:!ipxe-http,x86PC,"rootstock: iPXE (BIOS)",undionly.kpxe',
      'pxe-service=tag:!ipxe-http,x86-64_EFI,"rootstock: iPXE (UEFI)",ipxe.efi',
      "dhcp-boot=tag:ipxe-http,http://192.168.1.10:8080/boot.ipxe",
    ]) {
      assert.ok(lines.includes(line), `missing ${line}`);
    }
    assert.ok(lines.includes("# interface=eth0"));
    assert.ok(
      renderDnsmasqConfig({
        base: new URL("http://192.168.1.10:8080/"),
        tftpRoot: "/t",
        title: "t",
        networkInterface: "enp5s0",
      }).includes("\ninterface=enp5s0\n"),
    );
  });

  test("a server named by host name, or a TFTP folder dnsmasq cannot parse, is refused", () => {
    assert.throws(
      () => renderDnsmasqConfig({ base: new URL("http://boot.lan:8080/"), tftpRoot: "/t", title: "t" }),
      (error: unknown) => error instanceof RootstockError && error.code === "ERR_NETBOOT_DNSMASQ_ADDRESS",
    );
    assert.throws(
      () => renderDnsmasqConfig({ base: new URL("http://10.0.0.1/"), tftpRoot: "/a b,c", title: "t" }),
      (error: unknown) => error instanceof RootstockError && error.code === "ERR_NETBOOT_DNSMASQ_PATH",
    );
  });
});

describe("the index page", () => {
  test("of a bundle no guest here can boot from this server says so, not an empty boot section", () => {
    const page = renderIndex(manifest({ arch: "aarch64" }), new URL("http://127.0.0.1:8080/"));
    assert.match(
      page,
      /\n\nNo way to boot from it: nothing but this machine reaches a server on this address/,
    );
    const pc = renderIndex(manifest(), new URL("http://127.0.0.1:8080/"));
    assert.match(pc, /Or boot one now: +qemu-system-x86_64 /);
  });
});
