/**
 * `rootstock netboot`'s refusals, each before anything is built; Ctrl-C during the build; and an export
 * for a LAN, on a small plan whose "kernel" is a stand-in file. (The command at work on the flagship
 * plan, served to QEMU, is in netboot-qemu.test.ts.)
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { listRuns } from "../src/store/run-record.ts";
import { runCli, STACK_LINE } from "./helpers/cli.ts";
import { writePlan } from "./helpers/fixture-plan.ts";
import { finished, startRootstock } from "./helpers/rootstock-process.ts";

const PLAN = join(import.meta.dirname, "plans", "netboot");
let store: string;

before(async () => {
  store = await mkdtemp(join(tmpdir(), "rootstock-netboot-cli-"));
});

after(async () => {
  await rm(store, { recursive: true, force: true });
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
    // Refused before any run began.
    assert.deepEqual(await readdir(join(store, "runs")).catch(() => []), []);
  });
});

describe("rootstock netboot on a small plan", () => {
  const gate = () => join(store, "gate");
  const plan = () =>
    writePlan(join(store, "small-plan"), {
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
          toml: `version = "1"\nsandbox = "host"\n[env]\nGATE = "${gate()}"\n`,
          script:
            'do_install() { while [ ! -e "$GATE" ]; do sleep 0.05; done; mkdir -p "$OUT/boot" && echo kernel >"$OUT/boot/bzImage"; }\n',
        },
      },
    });

  test("Ctrl-C during the build ends the run as interrupted, with a message and no stack trace", async () => {
    const dir = await plan();
    const child = startRootstock(["--store", store, "netboot", dir, "--json"]);
    const done = finished(child);
    await new Promise<void>((resolve, reject) => {
      let text = "";
      child.stdout?.on("data", (chunk: Buffer) => {
        text += chunk.toString();
        if (text.includes('"type":"step:start","step":"linux"')) resolve();
      });
      child.on("close", () => reject(new Error(`rootstock netboot ended early:\n${text}`)));
    });
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
      await new Promise<void>((resolve, reject) => {
        let text = "";
        child.stdout?.on("data", (chunk: Buffer) => {
          text += chunk.toString();
          if (text.includes('"type":"netboot:listening"')) resolve();
        });
        child.on("close", () => reject(new Error(`rootstock netboot ended early:\n${text}`)));
      });
      child.kill(signal);
      const result = await done;
      assert.equal(result.code, 0, `${signal}: ${result.stderr}`);
      assert.equal((await listRuns(store))[0]?.state, "ok", signal);
    }
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
    assert.equal(await readFile(join(out, "vmlinuz"), "utf8"), "kernel\n");
    for (const file of ["vmlinuz", "initrd.img", "system.squashfs", "boot.ipxe"])
      assert.equal((await stat(join(out, file))).mode & 0o777, 0o644, `${file} is the user's to edit`);
    const [latest] = await listRuns(store);
    assert.equal(latest?.state, "ok");
    assert.ok(latest?.keys["netboot:system"] && latest.keys["image:system"]);
  });
});
