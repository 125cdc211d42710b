/**
 * What the netboot server serves for a bundle: its files, and the scripts rendered for the address
 * each client used (boot.ipxe, kexec-boot), plus an index that says how to boot.
 */

import { bootInstructions, NO_BOOT_LINE } from "./boot-instructions.ts";
import type { NetbootBundle } from "./build-bundle.ts";
import type { ServedEntry } from "./bundle-server.ts";
import { renderIpxeScript } from "./ipxe-script.ts";
import { renderKexecScript } from "./kexec-script.ts";
import { BUNDLE_FILES, bootsOnPc, type NetbootManifest, netbootCmdline } from "./netboot-manifest.ts";

const { join } = process.getBuiltinModule("node:path");

const TEXT = "text/plain; charset=utf-8";

export function bundleEntries(bundle: NetbootBundle): Map<string, ServedEntry> {
  const { manifest } = bundle;
  const entries = new Map<string, ServedEntry>();
  entries.set("", { kind: "rendered", contentType: TEXT, render: (base) => renderIndex(manifest, base) });
  entries.set("boot.ipxe", {
    kind: "rendered",
    contentType: TEXT,
    render: (base) => renderIpxeScript(manifest, base),
  });
  entries.set("kexec-boot", {
    kind: "rendered",
    contentType: "text/x-shellscript; charset=utf-8",
    render: (base) => renderKexecScript(manifest, base, { filesBeside: false }),
  });
  for (const name of BUNDLE_FILES) {
    const file = manifest.files[name];
    if (file)
      entries.set(name, { kind: "file", path: join(bundle.dir, name), size: file.size, sha256: file.sha256 });
  }
  return entries;
}

/** How to boot from this server, for a person who opens it in a browser or with curl. */
export function renderIndex(manifest: NetbootManifest, base: URL): string {
  const files = BUNDLE_FILES.flatMap((name) => {
    const file = manifest.files[name];
    return file
      ? [`  ${name.padEnd(16)} ${String(file.size).padStart(11)} bytes  sha256 ${file.sha256}`]
      : [];
  });
  // The lines the terminal prints, for the address this page was asked by: on loopback, a QEMU guest's,
  // and no kexec line unless the system is embedded (kexec would take the server away).
  const instructions = bootInstructions({
    // localhost is loopback by name: what holds for 127.0.0.1 holds for it.
    address: base.hostname === "localhost" ? "127.0.0.1" : base.hostname.replace(/^\[|\]$/g, ""),
    port: Number(base.port || 80),
    embedded: manifest.squashfs.embedded !== undefined,
    notPc: !bootsOnPc(manifest),
    ...(base.pathname === "/" ? {} : { publicBase: base }),
  });
  const width = Math.max(0, ...instructions.map((item) => item.what.length)) + 2;
  return [
    `rootstock netboot: plan ${manifest.plan}, image ${manifest.image} (bundle ${manifest.key.slice(0, 16)})`,
    "",
    ...(instructions.length === 0
      ? [`No way to boot from it: ${NO_BOOT_LINE}.`]
      : instructions.map(
          (item) => `${`${item.what[0]?.toUpperCase()}${item.what.slice(1)}:`.padEnd(width)} ${item.line}`,
        )),
    "",
    "Files:",
    ...files,
    ...(manifest.squashfs.embedded === undefined
      ? []
      : [
          `  (the system's squashfs, ${manifest.squashfs.size} bytes, is inside initrd.img at ${manifest.squashfs.embedded})`,
        ]),
    "",
    "Kernel command line:",
    `  ${netbootCmdline(manifest, base)}`,
    "",
  ].join("\n");
}
