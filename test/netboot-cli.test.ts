/**
 * `rootstock netboot`'s refusals, each before anything is built; Ctrl-C during the build; and an export
 * for a LAN, on a small plan whose "kernel" is a stand-in file. (The command at work on the flagship
 * plan, served to QEMU, is in netboot-qemu.test.ts.)
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { listRuns } from "../src/store/run-record.ts";
import { runCli, STACK_LINE } from "./helpers/cli.ts";
import { writePlan } from "./helpers/fixture-plan.ts";
import { finished, startRootstock, untilPrinted } from "./helpers/rootstock-process.ts";

const PLAN = join(import.meta.dirname, "plans", "netboot");
let store: string;

before(async () => {
  store = await mkdtemp(join(tmpdir(), "rootstock-netboot-cli-"));
});

after(async () => {
  await rm(store, { recursive: true, force: true });
  await rm(`${store}-wrong-kernel`, { recursive: true, force: true });
  await rm(`${store}-exported`, { recursive: true, force: true });
});

async function refused(args: string[], code: string, message: RegExp, hint: RegExp): Promise<void> {
  const result = await runCli(["--store", store, "netboot", PLAN, ...args]);
  assert.equal(result.code, 1, result.stdout);
  assert.match(result.stderr, new RegExp(`\\[${code}\\]`));
  assert.match(result.stderr, message);
  assert.match(result.stderr, hint);
  assert.doesNotMatch(result.stderr, STACK_LINE);
}

describe("rootstock netboot refuses", () => {
  test("an image that is not a netboot image, or no name when there are several", async () => {
    await refused(
      ["disk"],
      "ERR_NETBOOT_NO_IMAGE",
      /image "disk" of plan netboot-fixture has no \[netboot\] table/,
      /netboot images of this plan: system, minimal/,
    );
    await refused(
      [],
      "ERR_NETBOOT_NO_IMAGE",
      /has 2 netboot images: system, minimal/,
      /rootstock netboot PLAN IMAGE/,
    );
  });

  test("a --listen, --public-url or --out it cannot use", async () => {
    await refused(
      ["system", "--listen", "localhost:80"],
      "ERR_NETBOOT_LISTEN",
      /--listen "localhost:80": localhost is not an IPv4 address/,
      /ADDRESS:PORT/,
    );
    await refused(
      ["system", "--listen", "127.0.0.1:99999"],
      "ERR_NETBOOT_LISTEN",
      /expected a port from 0 to 65535/,
      /ADDRESS:PORT/,
    );
    await refused(
      ["system", "--public-url", "ftp://x/"],
      "ERR_NETBOOT_PUBLIC_URL",
      /must be a plain http:\/\/ URL/,
      /plain HTTP/,
    );
    await refused(
      ["system", "--out", join(store, "out")],
      "ERR_NETBOOT_OUT_NEEDS_URL",
      /--out .* needs --public-url/,
      /--public-url http:\/\//,
    );
    await refused(
      ["system", "--out", join(store, "netboot"), "--public-url", "http://192.168.1.10:8080/"],
      "ERR_CLI_BAD_FOLDER",
      /--out .*\/netboot is inside the store/,
      /outside the store/,
    );
    await refused(
      ["system", "--listen", ""],
      "ERR_NETBOOT_LISTEN",
      /--listen "": it is empty/,
      /ADDRESS:PORT/,
    );
    await refused(
      [
        "system",
        "--listen",
        "127.0.0.1:8080",
        "--out",
        `${store}-x`,
        "--public-url",
        "http://192.168.1.10:8080/",
      ],
      "ERR_NETBOOT_LISTEN",
      /--listen 127\.0\.0\.1:8080 with --out: --out serves nothing/,
      /leave out --listen to export/,
    );
    // A port in use, an address not of this machine, a folder holding someone's files: before the build.
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = busy.address() as { port: number };
      await refused(
        ["system", "--listen", `127.0.0.1:${port}`],
        "ERR_NETBOOT_LISTEN_FAILED",
        /the port is in use/,
        /--listen ADDRESS:PORT/,
      );
    } finally {
      await new Promise<void>((resolve) => busy.close(() => resolve()));
    }
    await refused(
      ["system", "--listen", "192.0.2.1:8080"],
      "ERR_NETBOOT_LISTEN_FAILED",
      /this machine has no such address/,
      /--listen ADDRESS:PORT/,
    );
    const someones = `${store}-someones`;
    await mkdir(someones, { recursive: true });
    await writeFile(join(someones, "notes.txt"), "precious\n");
    await refused(
      ["system", "--out", someones, "--public-url", "http://192.168.1.10:8080/"],
      "ERR_NETBOOT_OUT_NOT_EMPTY",
      /holds files that no export recorded \(it has no \.rootstock-export\.json\): notes\.txt/,
      /a new or empty folder/,
    );
    assert.equal(await readFile(join(someones, "notes.txt"), "utf8"), "precious\n");
    // An older rootstock's export kept no record: said to look like one, not to be someone's files.
    const older = `${store}-older-export`;
    await mkdir(older, { recursive: true });
    // Someone's own README and TFTP folder are no export, though an export writes such names.
    await writeFile(join(older, "README.txt"), "my notes\n");
    await mkdir(join(older, "tftp"));
    await refused(
      ["system", "--out", older, "--public-url", "http://192.168.1.10:8080/"],
      "ERR_NETBOOT_OUT_NOT_EMPTY",
      /holds files that no export recorded \(it has no \.rootstock-export\.json\): README\.txt, tftp/,
      /a new or empty folder/,
    );
    for (const name of ["boot.ipxe", "vmlinuz", "initrd.img", "system.squashfs"])
      await writeFile(join(older, name), "from an older export\n");
    await refused(
      ["system", "--out", older, "--public-url", "http://192.168.1.10:8080/"],
      "ERR_NETBOOT_OUT_NOT_EMPTY",
      /holds what looks like an export by an older rootstock \(README\.txt, boot\.ipxe, initrd\.img, system\.squashfs, tftp, …\), which recorded no list of its files/,
      /remove that folder's files/,
    );
    await rm(older, { recursive: true, force: true });
    await rm(someones, { recursive: true, force: true });
    // Refused before any run began.
    assert.deepEqual(await readdir(join(store, "runs")).catch(() => []), []);
  });
});

describe("rootstock netboot on a small plan", () => {
  const gate = () => join(store, "gate");
  const plan = (gateFile = gate(), folder = "small-plan") =>
    writePlan(join(store, folder), {
      name: "small",
      toml: `kernel = { step = "linux", path = "boot/bzImage" }
[host]
tools = ["sh", "cp", "mkdir"]
[images.system]
kind = "squashfs"
contents = ["busybox"]
[images.system.netboot]
busybox = { step = "busybox" }
init = "/bin/busybox"
`,
      steps: {
        busybox: {
          toml: 'version = "1"\nsandbox = "host"\n',
          script: 'do_install() { mkdir -p "$OUT/bin" && cp /bin/busybox "$OUT/bin/busybox"; }\n',
        },
        linux: {
          toml: `version = "1"\nsandbox = "host"\n[env]\nGATE = "${gateFile}"\n`,
          script:
            'do_install() { while [ ! -e "$GATE" ]; do sleep 0.05; done; mkdir -p "$OUT/boot" && { printf kernel; head -c 508 /dev/zero; printf HdrS; } >"$OUT/boot/bzImage"; }\n',
        },
      },
    });

  /**
   * netboot of the small plan with one edit to a file of it. A gate of its own: the shared one, opened,
   * would let the next tests' builds through (and their linux steps, of the same key, come from the
   * cache); a store of its own too: the next tests count the runs in theirs.
   */
  const netbootEdited = async (name: string, file: string, from: string, to: string) => {
    const ownGate = join(store, `gate-${name}`);
    const dir = await plan(ownGate, `small-plan-${name}`);
    await writeFile(ownGate, "");
    await writeFile(join(dir, file), (await readFile(join(dir, file), "utf8")).replace(from, to));
    return runCli(["--store", `${store}-wrong-kernel`, "netboot", dir, "--listen", "127.0.0.1:0"]);
  };

  test("a kernel.path that names no file is said with the field and what the folder holds", async () => {
    const result = await netbootEdited("wrong-kernel", "plan.toml", "boot/bzImage", "boot/vmlinuz");
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stderr,
      /plan\.toml:3: kernel\.path: the kernel of netboot image "system", boot\/vmlinuz in step "linux"'s output, is not a file there \[ERR_IMAGE_NO_KERNEL_FILE\]\n {2}hint: boot\/ holds: bzImage/,
    );
  });

  test("a kernel.path that names a file QEMU cannot boot is said so before anything is served", async () => {
    const result = await netbootEdited("not-a-kernel", "steps/linux/build.sh", "printf HdrS", "printf none");
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stderr,
      /kernel\.path: the kernel of netboot image "system", boot\/bzImage in step "linux"'s output, is not a kernel QEMU boots: .*\[ERR_IMAGE_NOT_A_KERNEL\]/,
    );
  });

  test("Ctrl-C during the build ends the run as interrupted, with a message and no stack trace", async () => {
    const dir = await plan();
    const child = startRootstock(["--store", store, "netboot", dir, "--json"]);
    const done = finished(child);
    await untilPrinted(child, '"type":"step:start","step":"linux"');
    child.kill("SIGINT");
    const result = await done;
    assert.equal(result.code, 130, result.stderr);
    assert.match(result.stderr, /was interrupted \[ERR_NETBOOT_INTERRUPTED\]/);
    assert.doesNotMatch(result.stderr, STACK_LINE);
    const runs = await listRuns(store);
    assert.deepEqual(
      runs.map((run) => run.state),
      ["interrupted"],
    );
  });

  test("a server stopped by SIGTERM or Ctrl-C ends its run as ok and exits 0: serving until stopped is its job", async () => {
    const dir = await plan();
    await writeFile(gate(), "");
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      const child = startRootstock(["--store", store, "netboot", dir, "--json", "--listen", "127.0.0.1:0"]);
      const done = finished(child);
      await untilPrinted(child, '"type":"netboot:listening"');
      child.kill(signal);
      const result = await done;
      assert.equal(result.code, 0, `${signal}: ${result.stderr}`);
      assert.equal((await listRuns(store))[0]?.state, "ok", signal);
    }
  });

  test("the address is held from before the build: a server started meanwhile is refused; --json gives the boot lines", async () => {
    const gate2 = join(store, "gate-2");
    const dir = await plan(gate2, "small-plan-2");
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const { port } = probe.address() as { port: number };
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const child = startRootstock([
      "--store",
      store,
      "netboot",
      dir,
      "--json",
      "--listen",
      `127.0.0.1:${port}`,
    ]);
    const done = finished(child);
    await untilPrinted(child, '"type":"step:start","step":"linux"');
    // While the build waits at its gate, the port is this netboot's: another server is refused at once.
    const busy = createServer();
    await assert.rejects(
      new Promise<void>((resolve, reject) => {
        busy.once("error", reject);
        busy.listen(port, "127.0.0.1", resolve);
      }),
      { code: "EADDRINUSE" },
    );
    // A client that comes meanwhile (a machine booted early) is hung up on at once, to retry.
    const early = await fetch(`http://127.0.0.1:${port}/boot.ipxe`, {
      signal: AbortSignal.timeout(5000),
    }).then(
      () => "answered",
      (error: Error) => (error.name === "TimeoutError" ? "held" : "hung up"),
    );
    assert.equal(early, "hung up");
    await writeFile(gate2, "");
    await untilPrinted(child, '"type":"netboot:serving"');
    child.kill("SIGTERM");
    const result = await done;
    assert.equal(result.code, 0, result.stderr);
    // Served, with --json: the boot lines are an event of their own.
    const served = startRootstock(["--store", store, "netboot", dir, "--json", "--listen", "127.0.0.1:0"]);
    const ended = finished(served);
    // Each event is one write of one line.
    const printed = await untilPrinted(served, '"type":"netboot:serving"');
    const line = printed.split("\n").find((item) => item.includes('"type":"netboot:serving"')) as string;
    const serving = JSON.parse(line) as Record<string, unknown>;
    served.kill("SIGTERM");
    await ended;
    assert.ok(Array.isArray(serving.instructions));
    assert.match(JSON.stringify(serving.instructions), /or boot one now/);
    assert.match(String(serving.dnsmasqSkipped), /loopback only/);
  });

  test("--out exports the bundle built by the same run, for the public URL", async () => {
    const dir = await plan();
    await writeFile(gate(), "");
    // Outside the store: --out refuses a folder in it.
    const out = `${store}-exported`;
    const result = await runCli([
      "--store",
      store,
      "netboot",
      dir,
      "--out",
      out,
      "--public-url",
      "http://192.168.1.10:8080/",
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /✓ bundle [0-9a-f]{16} of image system/);
    assert.match(
      result.stdout,
      new RegExp(`exported to ${out}: vmlinuz, initrd.img, system.squashfs, boot.ipxe, kexec-boot`),
    );
    assert.match(result.stdout, /a LAN: dnsmasq --no-daemon --conf-file=/);
    // The stand-in: a bzImage's "HdrS" at 0x202, which is all netboot checks of a kernel.
    const vmlinuz = await readFile(join(out, "vmlinuz"), "latin1");
    assert.equal(vmlinuz.slice(0, 6), "kernel");
    assert.equal(vmlinuz.slice(0x202), "HdrS");
    for (const file of ["vmlinuz", "initrd.img", "system.squashfs", "boot.ipxe"])
      assert.equal((await stat(join(out, file))).mode & 0o777, 0o644, `${file} is the user's to edit`);
    const [latest] = await listRuns(store);
    assert.equal(latest?.state, "ok");
    assert.ok(latest?.keys["netboot:system"] && latest.keys["image:system"]);
  });
});
