/**
 * Netboot bundles in a real store, from a real squashfs (mksquashfs) and Debian's static busybox:
 * layout, caching, the embedded squashfs read back by GNU cpio, the checks of busybox and of the
 * system's init, and a bundle served with its rendered scripts.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import {
  access,
  chmod,
  chown,
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from "node:fs/promises";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { RootstockError } from "../src/errors.ts";
import type { RootstockEvent } from "../src/events.ts";
import { buildNetbootBundle, type NetbootInputs } from "../src/netboot/build-bundle.ts";
import { bundleEntries } from "../src/netboot/bundle-entries.ts";
import { startBundleServer } from "../src/netboot/bundle-server.ts";
import { exportBundle } from "../src/netboot/export-bundle.ts";
import { netbootCmdline } from "../src/netboot/netboot-manifest.ts";
import { REQUIRED_APPLETS } from "../src/netboot/ram-root.ts";
import { serveNetboot } from "../src/netboot/serve-netboot.ts";
import { cpioInitramfs } from "./fixtures/cpio-initramfs.ts";
import { sha256Of, testBytes } from "./helpers/http-server.ts";
import { rawRequest } from "./helpers/raw-http.ts";

const run = promisify(execFile);

let work: string;
let storeDir: string;
let inputs: NetbootInputs;
const kernel = testBytes(300_000, 3);

async function makeSquashfs(name: string, build: (root: string) => Promise<void>): Promise<string> {
  const root = join(work, `${name}-root`);
  await mkdir(join(root, "bin"), { recursive: true });
  await mkdir(join(root, "sbin"));
  await copyFile("/bin/busybox", join(root, "bin", "busybox"));
  await build(root);
  const image = join(work, `${name}.squashfs`);
  await run("mksquashfs", [root, image, "-noappend", "-quiet", "-no-progress", "-all-root", "-comp", "gzip"]);
  return image;
}

async function refusal(promise: Promise<unknown>, code: string): Promise<RootstockError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof RootstockError, `expected a RootstockError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}`);
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), "rootstock-netboot-bundle-"));
  storeDir = join(work, "store");
  await writeFile(join(work, "bzImage"), kernel);
  const squashfs = await makeSquashfs("system", async (root) => {
    await symlink("../bin/busybox", join(root, "sbin", "init"));
    await writeFile(join(root, "sbin", "not-executable"), "#!/bin/sh\n");
    await symlink("/bin/missing", join(root, "sbin", "dangling"));
  });
  inputs = {
    plan: "demo",
    image: "system",
    arch: "x86_64",
    kernel: { path: join(work, "bzImage") },
    busybox: { path: "/bin/busybox", label: "busybox:bin/busybox" },
    squashfs: { path: squashfs },
    init: "/sbin/init",
    cmdline: "console=ttyS0",
  };
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

describe("netboot bundle", () => {
  test("kernel, a small RAM-root initramfs and the squashfs, keyed and made once", async () => {
    const events: RootstockEvent[] = [];
    const bundle = await buildNetbootBundle(inputs, {
      storeDir,
      initramfs: cpioInitramfs,
      emit: (event) => events.push(event),
    });
    assert.equal(bundle.cached, false);
    assert.equal(bundle.dir, join(storeDir, "netboot", bundle.manifest.key));
    // Closed to other users as the image's folder is: its squashfs is a hard link to the image.
    assert.equal((await stat(bundle.dir)).mode & 0o777, 0o700);
    assert.deepEqual((await readdir(bundle.dir)).sort(), [
      "initrd.img",
      "manifest.json",
      "system.squashfs",
      "vmlinuz",
    ]);
    const squashfs = await readFile(inputs.squashfs.path);
    assert.deepEqual(bundle.manifest.files.vmlinuz, { sha256: sha256Of(kernel), size: kernel.length });
    assert.deepEqual(bundle.manifest.files["system.squashfs"], {
      sha256: sha256Of(squashfs),
      size: squashfs.length,
    });
    assert.deepEqual(bundle.manifest.squashfs, { sha256: sha256Of(squashfs), size: squashfs.length });
    assert.equal(bundle.manifest.init, "/sbin/init");
    assert.equal(bundle.manifest.cmdline, "console=ttyS0");
    // The store's immutable bytes are shared, not copied.
    assert.equal((await stat(join(bundle.dir, "vmlinuz"))).ino, (await stat(inputs.kernel.path)).ino);
    // Made, it says how long that took.
    const made = events[0] as Extract<RootstockEvent, { type: "netboot:bundle" }> | undefined;
    assert.ok(typeof made?.ms === "number" && made.ms > 0, JSON.stringify(made));
    assert.deepEqual(events, [
      {
        type: "netboot:bundle",
        image: "system",
        key: bundle.manifest.key,
        dir: bundle.dir,
        cached: false,
        bytes: kernel.length + squashfs.length + bundle.manifest.files["initrd.img"].size,
        ms: made?.ms,
      },
    ]);
    // Nothing of the assembly is left beside the store.
    assert.deepEqual(await readdir(join(storeDir, "netboot", "tmp")), []);

    const again = await buildNetbootBundle(inputs, { storeDir, initramfs: cpioInitramfs });
    assert.equal(again.cached, true);
    assert.deepEqual(again.manifest, bundle.manifest);
    const other = await buildNetbootBundle(
      { ...inputs, cmdline: "console=ttyS0 quiet" },
      { storeDir, initramfs: cpioInitramfs },
    );
    assert.notEqual(other.manifest.key, bundle.manifest.key);
  });

  test("the RAM root is busybox, its applets, /init and the udhcpc script, and nothing else", async () => {
    const bundle = await buildNetbootBundle(inputs, { storeDir, initramfs: cpioInitramfs });
    const { stdout } = await run("sh", [
      "-c",
      'gzip -dc "$1" | cpio -t --quiet',
      "sh",
      join(bundle.dir, "initrd.img"),
    ]);
    const names = stdout.trim().split("\n");
    assert.ok(names.includes("init"));
    assert.ok(names.includes("bin/busybox"));
    assert.ok(names.includes("etc/udhcpc.script"));
    for (const applet of REQUIRED_APPLETS) assert.ok(names.includes(`bin/${applet}`), applet);
    const busybox = await stat("/bin/busybox");
    const other = names.filter((name) => !name.startsWith("bin/") && !name.startsWith("etc/"));
    assert.deepEqual(other.sort(), ["bin", "dev", "etc", "init", "newroot", "proc", "sys"]);
    // However large the system, the initramfs is busybox compressed plus a few kilobytes.
    assert.ok(
      bundle.manifest.files["initrd.img"].size < busybox.size,
      `${bundle.manifest.files["initrd.img"].size} bytes`,
    );
    assert.deepEqual(bundle.manifest.ramRoot.busybox, {
      sha256: sha256Of(await readFile("/bin/busybox")),
      size: busybox.size,
    });
  });

  test("a small squashfs travels inside the initramfs, and GNU cpio reads it back intact", async () => {
    const squashfs = await readFile(inputs.squashfs.path);
    const bundle = await buildNetbootBundle(
      { ...inputs, embedMaxBytes: squashfs.length },
      { storeDir, initramfs: cpioInitramfs },
    );
    assert.deepEqual((await readdir(bundle.dir)).sort(), ["initrd.img", "manifest.json", "vmlinuz"]);
    assert.equal(bundle.manifest.squashfs.embedded, "/rootstock/system.squashfs");
    assert.equal(bundle.manifest.files["system.squashfs"], undefined);
    const initrd = await readFile(join(bundle.dir, "initrd.img"));
    // The appended archive starts on the first 4-byte boundary after the RAM root's.
    const start = Math.ceil(bundle.manifest.ramRoot.bytes / 4) * 4;
    assert.ok(initrd.subarray(bundle.manifest.ramRoot.bytes, start).every((byte) => byte === 0));
    const extracted = join(work, "extracted");
    await mkdir(extracted);
    await writeFile(join(work, "appended.cpio"), initrd.subarray(start));
    await run("sh", [
      "-c",
      'cd "$1" && cpio -i -d --quiet <"$2"',
      "sh",
      extracted,
      join(work, "appended.cpio"),
    ]);
    assert.ok((await readFile(join(extracted, "rootstock", "system.squashfs"))).equals(squashfs));

    const larger = await buildNetbootBundle(
      { ...inputs, embedMaxBytes: squashfs.length - 1 },
      { storeDir, initramfs: cpioInitramfs },
    );
    assert.equal(larger.manifest.squashfs.embedded, undefined);
  });

  test("busybox must be a static program for the plan's machine, with the applets the RAM root runs", async () => {
    const options = { storeDir, initramfs: cpioInitramfs };
    const dynamic = await refusal(
      buildNetbootBundle({ ...inputs, busybox: { path: "/bin/dash", label: "busybox:bin/dash" } }, options),
      "ERR_NETBOOT_BUSYBOX_DYNAMIC",
    );
    assert.match(dynamic.message, /busybox:bin\/dash is dynamically linked \(it needs \/lib64\/ld-linux/);
    const script = join(work, "not-elf");
    await writeFile(script, "#!/bin/sh\necho busybox\n", { mode: 0o755 });
    await refusal(
      buildNetbootBundle({ ...inputs, busybox: { path: script, label: "x" } }, options),
      "ERR_NETBOOT_BUSYBOX_NOT_ELF",
    );
    await refusal(buildNetbootBundle({ ...inputs, arch: "aarch64" }, options), "ERR_NETBOOT_BUSYBOX_ARCH");
    // A busybox for another arch (this one's ELF header says aarch64) cannot be asked for its applets
    // here: the bundle is made, and its event says they went unchecked.
    const foreign = join(work, "aarch64-busybox");
    const elf = await readFile("/bin/busybox");
    elf.writeUInt16LE(183, 18);
    await writeFile(foreign, elf, { mode: 0o755 });
    const events: RootstockEvent[] = [];
    const foreignInputs = {
      ...inputs,
      arch: "aarch64",
      busybox: { path: foreign, label: "busybox:bin/busybox" },
    };
    await buildNetbootBundle(foreignInputs, { ...options, emit: (event) => events.push(event) });
    // Made, then found in the store: each time it is used, the note is there.
    await buildNetbootBundle(foreignInputs, { ...options, emit: (event) => events.push(event) });
    const bundles = events.filter((event) => event.type === "netboot:bundle");
    assert.deepEqual(
      bundles.map((event) => event.type === "netboot:bundle" && event.cached),
      [false, true],
    );
    // A bundle an older rootstock made has no such field: its arch says the same.
    const made = bundles[0];
    const manifestFile = join(made?.type === "netboot:bundle" ? made.dir : "", "manifest.json");
    const manifest = JSON.parse(await readFile(manifestFile, "utf8"));
    delete manifest.ramRoot.appletsChecked;
    await chmod(manifestFile, 0o644).catch(() => {});
    await writeFile(manifestFile, JSON.stringify(manifest));
    await buildNetbootBundle(foreignInputs, { ...options, emit: (event) => events.push(event) });
    const all = events.filter((event) => event.type === "netboot:bundle");
    assert.equal(all.length, 3);
    for (const made of all)
      assert.match(
        made?.type === "netboot:bundle" ? (made.appletsUnchecked ?? "") : "",
        /its busybox is for aarch64, which this host cannot run to ask for its applets/,
      );
    await refusal(
      buildNetbootBundle(
        { ...inputs, busybox: { path: join(work, "nope"), label: "busybox:bin/nope" } },
        options,
      ),
      "ERR_NETBOOT_BUSYBOX_MISSING",
    );
    // A static program that knows two applets.
    const source = join(work, "tiny.c");
    await writeFile(source, '#include <stdio.h>\nint main(void) { puts("sh\\nls"); return 0; }\n');
    await run("gcc", ["-static", "-o", join(work, "tiny-busybox"), source]);
    const lacking = await refusal(
      buildNetbootBundle(
        { ...inputs, busybox: { path: join(work, "tiny-busybox"), label: "tiny:bin/busybox" } },
        options,
      ),
      "ERR_NETBOOT_BUSYBOX_APPLETS",
    );
    assert.match(
      lacking.message,
      /tiny:bin\/busybox lacks applets the RAM root runs: cat, grep, ip, mkdir, mount/,
    );
    assert.deepEqual(await readdir(join(storeDir, "netboot", "tmp")), []);
  });

  test("the system's init must exist in the image and be executable, links followed", async () => {
    const options = { storeDir, initramfs: cpioInitramfs };
    const missing = await refusal(
      buildNetbootBundle({ ...inputs, init: "/sbin/nope" }, options),
      "ERR_NETBOOT_INIT_MISSING",
    );
    assert.match(missing.message, /image "system" has no \/sbin\/nope/);
    const dangling = await refusal(
      buildNetbootBundle({ ...inputs, init: "/sbin/dangling" }, options),
      "ERR_NETBOOT_INIT_MISSING",
    );
    assert.match(
      dangling.message,
      /has no \/bin\/missing, so its init \/sbin\/dangling cannot start \(\/sbin\/dangling -> \/bin\/missing\)/,
    );
    await refusal(
      buildNetbootBundle({ ...inputs, init: "/sbin/not-executable" }, options),
      "ERR_NETBOOT_INIT_NOT_EXECUTABLE",
    );
    await refusal(
      buildNetbootBundle({ ...inputs, init: "/sbin" }, options),
      "ERR_NETBOOT_INIT_NOT_EXECUTABLE",
    );
  });

  test("served: the index, boot.ipxe for the client's address, and kexec-boot that checks what it loads", async () => {
    const bundle = await buildNetbootBundle(inputs, { storeDir, initramfs: cpioInitramfs });
    const server = await startBundleServer(bundleEntries(bundle));
    try {
      // Asked for by another machine's address: its iPXE line and kexec line.
      const index = await rawRequest(server.port, "/", { headers: { host: "192.168.1.10:8080" } });
      assert.equal(index.status, 200);
      assert.match(
        index.body.toString(),
        /At an iPXE prompt: +chain http:\/\/192\.168\.1\.10:8080\/boot\.ipxe/,
      );
      assert.match(
        index.body.toString(),
        /From a running Linux: +wget -O kexec-boot http:\/\/192\.168\.1\.10:8080\/kexec-boot/,
      );
      // Over loopback: a QEMU guest's line, and no kexec line (the booted system would fetch its squashfs
      // from a server kexec took away), as the terminal says.
      const local = (await rawRequest(server.port, "/")).body.toString();
      assert.match(
        local,
        new RegExp(
          `A QEMU guest \\(user network\\): +chain http://10\\.0\\.2\\.2:${server.port}/boot\\.ipxe`,
        ),
      );
      assert.doesNotMatch(local, /kexec-boot/);
      const byName = await rawRequest(server.port, "/", { headers: { host: `localhost:${server.port}` } });
      assert.doesNotMatch(
        byName.body.toString(),
        /kexec-boot|At an iPXE prompt/,
        "localhost is loopback too",
      );
      const ipxe = await rawRequest(server.port, "/boot.ipxe", { headers: { host: "10.0.2.2:4321" } });
      assert.match(
        ipxe.body.toString(),
        /^kernel http:\/\/10\.0\.2\.2:4321\/vmlinuz initrd=initrd\.img console=ttyS0 rootstock\.squashfs=http:\/\/10\.0\.2\.2:4321\/system\.squashfs /m,
      );
      for (const name of ["vmlinuz", "initrd.img", "system.squashfs"]) {
        const file = await rawRequest(server.port, `/${name}`, { method: "HEAD" });
        assert.equal(file.status, 200, name);
      }

      // kexec-boot, run by sh, against a stand-in kexec that records how it was called.
      const bin = join(work, "fake-bin");
      await mkdir(bin, { recursive: true });
      const record = join(work, "kexec-calls");
      await writeFile(join(bin, "kexec"), `#!/bin/sh\nprintf '%s\\n' "$@" >>"${record}"\n`, { mode: 0o755 });
      // Saved and run where other files are called vmlinuz and initrd.img (as in Debian's /): the
      // served script fetches the server's, whatever lies beside it.
      const saved = join(work, "saved");
      await mkdir(saved, { recursive: true });
      await writeFile(join(saved, "vmlinuz"), "the host's own kernel");
      await writeFile(join(saved, "initrd.img"), "the host's own initrd");
      const script = join(saved, "kexec-boot");
      await writeFile(script, (await rawRequest(server.port, "/kexec-boot")).body);
      await run("sh", ["kexec-boot"], {
        cwd: saved,
        env: { PATH: `${bin}:/usr/bin:/bin`, KEXEC_LOAD_ONLY: "1" },
      });
      const calls = (await readFile(record, "utf8")).trim().split("\n");
      assert.equal(calls[0], "-l");
      assert.match(calls[1] ?? "", /\/vmlinuz$/);
      assert.match(calls[2] ?? "", /^--initrd=.*\/initrd\.img$/);
      assert.equal(calls[3], `--command-line=${netbootCmdline(bundle.manifest, new URL(server.url))}`);
    } finally {
      await server.close();
    }
  });

  test("exported for a LAN: files, scripts for the public URL, a dnsmasq config dnsmasq accepts, the kexec bundle", async () => {
    const bundle = await buildNetbootBundle(inputs, { storeDir, initramfs: cpioInitramfs });
    const ipxe = join(work, "ipxe-binaries");
    await mkdir(ipxe, { recursive: true });
    await writeFile(join(ipxe, "undionly.kpxe"), "a stand-in for iPXE's BIOS binary");
    const target = join(work, "lan");
    const base = new URL("http://192.168.1.10:8080/");
    const result = await exportBundle(bundle, target, { base, ipxeFolders: [join(work, "nothing"), ipxe] });
    assert.deepEqual(result.files.sort(), [
      "README.txt",
      "boot.ipxe",
      "dnsmasq.conf",
      "initrd.img",
      "kexec-boot",
      "system.squashfs",
      "tftp/undionly.kpxe",
      "vmlinuz",
    ]);
    assert.deepEqual(result.missingIpxe, ["ipxe.efi"]);
    assert.match(
      await readFile(join(target, "boot.ipxe"), "utf8"),
      /^kernel http:\/\/192\.168\.1\.10:8080\/vmlinuz /m,
    );
    const { stderr } = await run("dnsmasq", ["--test", `--conf-file=${result.dnsmasq}`]);
    assert.match(stderr, /syntax check OK/);
    const config = await readFile(join(target, "dnsmasq.conf"), "utf8");
    assert.ok(config.includes(`\ntftp-root=${join(target, "tftp")}\n`));
    assert.match(await readFile(join(target, "README.txt"), "utf8"), /lacks ipxe\.efi/);

    // kexec-boot takes the files beside it: no server is running.
    const bin = join(work, "fake-bin-lan");
    await mkdir(bin, { recursive: true });
    const record = join(work, "kexec-calls-lan");
    await writeFile(join(bin, "kexec"), `#!/bin/sh\nprintf '%s\\n' "$@" >>"${record}"\n`, { mode: 0o755 });
    await run("sh", [join(target, "kexec-boot")], {
      env: { PATH: `${bin}:/usr/bin:/bin`, KEXEC_LOAD_ONLY: "1" },
    });
    const calls = (await readFile(record, "utf8")).trim().split("\n");
    assert.equal(calls[3], `--command-line=${netbootCmdline(bundle.manifest, base)}`);
    // A kernel beside it that is not the bundle's (the script saved into / beside Debian's own) is not
    // used: the script fetches the right one. Editing the folder leaves the store as it was.
    await writeFile(join(target, "vmlinuz"), "not the kernel");
    assert.equal(sha256Of(await readFile(join(bundle.dir, "vmlinuz"))), bundle.manifest.files.vmlinuz.sha256);
    const fetched = join(work, "wget-calls-lan");
    await writeFile(
      join(bin, "wget"),
      `#!/bin/sh\nfor url; do :; done\nwhile [ "$1" != -O ]; do shift; done\necho "$url" >>"${fetched}"\ncp "${bundle.dir}/\${url##*/}" "$2"\n`,
      { mode: 0o755 },
    );
    await run("sh", [join(target, "kexec-boot")], {
      env: { PATH: `${bin}:/usr/bin:/bin`, KEXEC_LOAD_ONLY: "1" },
    });
    assert.deepEqual((await readFile(fetched, "utf8")).trim().split("\n"), [
      "http://192.168.1.10:8080/vmlinuz",
    ]);
    // Fetched and still wrong: refused.
    await writeFile(join(bin, "wget"), `#!/bin/sh\nwhile [ "$1" != -O ]; do shift; done\necho wrong >"$2"\n`);
    await assert.rejects(
      run("sh", [join(target, "kexec-boot")], {
        env: { PATH: `${bin}:/usr/bin:/bin`, KEXEC_LOAD_ONLY: "1" },
      }),
      /kexec-boot: vmlinuz has sha256 [0-9a-f]{64}, expected/,
    );

    const named = await exportBundle(bundle, join(work, "lan-named"), {
      base: new URL("http://boot.lan:8080/"),
    });
    assert.equal(named.dnsmasq, undefined);
    // A bundle of another arch: no PXE files for PCs, and no dnsmasq config that would hand them out.
    const arm = await exportBundle(
      { ...bundle, manifest: { ...bundle.manifest, arch: "aarch64" } },
      join(work, "arm"),
      {
        base,
        ipxeFolders: [ipxe],
      },
    );
    assert.equal(arm.dnsmasq, undefined);
    assert.match(
      arm.dnsmasqSkipped ?? "",
      /the bundle is for aarch64, and the PXE boot files rootstock offers .* start x86 PCs/,
    );
    assert.ok(!arm.files.some((file) => file.startsWith("tftp/")), arm.files.join(" "));
    // Exported again into the LAN folder for a URL that gets no dnsmasq config: the old one goes, and
    // so does any file the last export wrote and this one does not (a squashfs since embedded); a file
    // of the user's own stays.
    const exportRecord = join(target, ".rootstock-export.json");
    const listed = JSON.parse(await readFile(exportRecord, "utf8")) as { files: string[] };
    // A record naming a file outside the folder (damaged, or copied from elsewhere) removes nothing there.
    const victim = join(work, "victim.txt");
    await writeFile(victim, "not the export's");
    await writeFile(
      exportRecord,
      JSON.stringify({ files: [...listed.files, "tftp/ipxe.efi", "../victim.txt"] }),
    );
    // A file of an earlier export (on a host that had ipxe.efi) that this one does not write.
    await writeFile(join(target, "tftp", "ipxe.efi"), "from an earlier export");
    await writeFile(join(target, "mine.txt"), "the user's");
    // An export cut short (here: its bundle's files unreadable; a kill does the same) leaves a folder the
    // next export takes as its own.
    await assert.rejects(exportBundle({ ...bundle, dir: join(work, "no-such-bundle") }, target, { base }));
    // ... and leaves the last export whole (a full disk did the same): nothing of it removed, nothing
    // half-written beside it.
    assert.match(
      await readFile(join(target, "boot.ipxe"), "utf8"),
      /^kernel http:\/\/192\.168\.1\.10:8080\//m,
    );
    assert.ok(await readFile(join(target, "system.squashfs")));
    assert.deepEqual(
      (await readdir(target)).filter((name) => name.startsWith(".rootstock-export-new.")),
      [],
    );
    const again = await exportBundle(bundle, target, { base: new URL("http://boot.lan:8080/") });
    assert.equal(
      await access(join(target, "tftp", "ipxe.efi")).then(
        () => true,
        () => false,
      ),
      false,
    );
    assert.equal(await readFile(join(target, "mine.txt"), "utf8"), "the user's");
    assert.equal(await readFile(victim, "utf8"), "not the export's");
    assert.equal(again.dnsmasq, undefined);
    assert.equal(
      await access(join(target, "dnsmasq.conf")).then(
        () => true,
        () => false,
      ),
      false,
    );
    assert.match(named.dnsmasqSkipped ?? "", /needs the server's IPv4 address/);
    // Without iPXE binaries to copy, tftp/ is there all the same: dnsmasq.conf names it.
    const bare = await exportBundle(bundle, join(work, "lan-bare"), {
      base,
      ipxeFolders: [join(work, "nothing")],
    });
    assert.ok(bare.dnsmasq);
    assert.ok((await stat(join(work, "lan-bare", "tftp"))).isDirectory());
    // Another export writing into the folder keeps its folder; one a dead process left goes.
    const shared = join(work, "lan-shared");
    // (A live process is marked by its pid and start time; one whose pid another process took is gone.)
    const parent = process.ppid;
    const started = (await readFile(`/proc/${parent}/stat`, "utf8")).split(") ")[1]?.split(" ")[19];
    await mkdir(join(shared, `.rootstock-export-new.${parent}-${started}.busy`), { recursive: true });
    await mkdir(join(shared, `.rootstock-export-new.${parent}-1.reused`), { recursive: true });
    await mkdir(join(shared, ".rootstock-export-new.999999999-1.dead"), { recursive: true });
    await exportBundle(bundle, shared, { base });
    assert.deepEqual(
      (await readdir(shared)).filter((name) => name.startsWith(".rootstock-export-new.")),
      [`.rootstock-export-new.${parent}-${started}.busy`],
    );
    // A folder another user owns could have its dnsmasq.conf and kexec-boot changed, which root runs.
    if (process.getuid?.() === 0) {
      const others = join(work, "lan-others");
      await mkdir(others);
      await chown(others, 65534, 65534);
      await assert.rejects(exportBundle(bundle, others, { base }), { code: "ERR_NETBOOT_OUT_NOT_OWN" });
    }
    // The root of a freshly made file system holds its own empty lost+found: no one's files.
    const stick = join(work, "stick");
    await mkdir(join(stick, "lost+found"), { recursive: true });
    assert.ok((await exportBundle(bundle, stick, { base })).files.includes("boot.ipxe"));
    // Loopback is no address for a LAN's machines.
    const loopback = await exportBundle(bundle, join(work, "lan-loopback-url"), {
      base: new URL("http://127.0.0.1:8080/"),
    });
    assert.equal(loopback.dnsmasq, undefined);
    assert.match(loopback.dnsmasqSkipped ?? "", /127\.0\.0\.1 is loopback, which only this machine reaches/);
  });
  test("served by serveNetboot: boot lines for loopback; a dnsmasq config for the LAN of a public URL", async () => {
    const bundle = await buildNetbootBundle(inputs, { storeDir, initramfs: cpioInitramfs });
    const loopback = await serveNetboot(bundle, { lanDir: join(work, "lan-loopback") });
    try {
      assert.equal(loopback.server.address, "127.0.0.1");
      // No kexec line: the booted system would fetch its squashfs from this machine's loopback.
      assert.deepEqual(
        loopback.instructions.map((instruction) => instruction.what),
        ["a QEMU guest (user network)", "or boot one now"],
      );
      assert.deepEqual(loopback.lan, {
        skipped: `the server listens on loopback only (--listen 0.0.0.0:${loopback.server.port} serves a LAN)`,
      });
      const script = await rawRequest(loopback.server.port, "/boot.ipxe");
      assert.equal(script.status, 200);
    } finally {
      await loopback.server.close();
    }

    // On every interface: the LAN reaches it at this machine's first address, if it has one.
    const everywhere = await serveNetboot(bundle, { host: "0.0.0.0", lanDir: join(work, "lan-everywhere") });
    try {
      const addresses = Object.values(networkInterfaces())
        .flat()
        .filter((address) => address?.family === "IPv4" && !address.internal);
      if (addresses.length === 0) {
        assert.deepEqual(everywhere.lan, { skipped: "this machine has no IPv4 address besides loopback" });
      } else {
        assert.ok(!("skipped" in everywhere.lan));
        assert.equal(everywhere.lan.base.href, `http://${addresses[0]?.address}:${everywhere.server.port}/`);
        assert.equal(everywhere.lan.dnsmasq, join(work, "lan-everywhere", "dnsmasq.conf"));
      }
      assert.ok(
        everywhere.instructions.some((instruction) => instruction.what === "a QEMU guest (user network)"),
      );
    } finally {
      await everywhere.server.close();
    }

    const lanDir = join(work, "lan-public");
    const events: RootstockEvent[] = [];
    const lan = await serveNetboot(bundle, {
      publicUrl: "http://192.168.1.10:8080/",
      lanDir,
      emit: (event) => events.push(event),
    });
    try {
      assert.ok(!("skipped" in lan.lan));
      assert.equal(lan.lan.dnsmasq, join(lanDir, "dnsmasq.conf"));
      assert.equal(lan.lan.base.href, "http://192.168.1.10:8080/");
      const { stderr } = await run("dnsmasq", ["--test", `--conf-file=${lan.lan.dnsmasq}`]);
      assert.match(stderr, /syntax check OK/);
      assert.match(
        await readFile(lan.lan.dnsmasq, "utf8"),
        /^dhcp-boot=tag:ipxe-http,http:\/\/192\.168\.1\.10:8080\/boot\.ipxe$/m,
      );
      // The scripts name the public URL, whatever address the request came to.
      const script = await rawRequest(lan.server.port, "/boot.ipxe");
      assert.match(script.body.toString(), /^kernel http:\/\/192\.168\.1\.10:8080\/vmlinuz /m);
      assert.deepEqual(
        events.filter((event) => event.type === "netboot:request").map((event) => [event.path, event.status]),
        [["/boot.ipxe", 200]],
      );
    } finally {
      await lan.server.close();
    }
  });
});
