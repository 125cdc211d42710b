/**
 * Netboot for real, on the flagship plan: `rootstock netboot` builds the system image and its bundle
 * and serves them on 127.0.0.1; QEMU boots through its own iPXE ROM (`-boot n`, user network, bootfile
 * http://10.0.2.2:PORT/boot.ipxe), the RAM root fetches the squashfs and switches to the system, whose
 * root is an overlay of tmpfs on squashfs; the image's own tests pass against it; a reboot netboots
 * again; and a squashfs that is not the one the bundle names ends in the RAM root's failure shell.
 *
 * The store is the tests' shared one, so the flagship kernel is built once per test run.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFile } from "node:child_process";
import { copyFile, mkdtemp, open, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { Machine } from "../src/check/machine.ts";
import { runTests } from "../src/check/run-tests.ts";
import { type NetbootBundle, readManifest } from "../src/netboot/build-bundle.ts";
import { bundleEntries } from "../src/netboot/bundle-entries.ts";
import { startBundleServer } from "../src/netboot/bundle-server.ts";
import { BundleStore } from "../src/netboot/bundle-store.ts";
import { netbootMachine, netbootTestTarget } from "../src/netboot/netboot-machine.ts";
import { type NetbootImage, netbootImage } from "../src/netboot/plan-netboot.ts";
import { loadPlan } from "../src/plan/load.ts";
import type { Plan } from "../src/plan/types.ts";
import { readRunRecord } from "../src/store/run-record.ts";
import { type FlagshipNetboot, flagshipNetboot } from "./helpers/flagship-netboot.ts";
import { finished, rootstock, startRootstock } from "./helpers/rootstock-process.ts";
import { sharedStoreDir } from "./helpers/shared-store.ts";

const run = promisify(execFile);
const storeDir = sharedStoreDir();
let work: string;
let flagship: FlagshipNetboot;
let plan: Plan;
let image: NetbootImage;
let server: ChildProcess;
let output = "";
let port: number;
let bundle: NetbootBundle;
let runId: string;

/** Resolves with the first match of `pattern` in the server's output so far or to come. */
function serverSays(pattern: RegExp): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    const look = () => {
      const match = pattern.exec(output);
      if (match) {
        server.stdout?.off("data", look);
        server.off("close", gone);
        resolve(match);
      }
    };
    const gone = () => reject(new Error(`rootstock netboot ended before printing ${pattern}:\n${output}`));
    server.stdout?.on("data", look);
    server.once("close", gone);
    look();
  });
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), "rootstock-netboot-qemu-"));
  flagship = await flagshipNetboot();
  plan = await loadPlan(flagship.dir);
  image = netbootImage(plan);
  // Building the flagship cold takes minutes; everything after it, seconds.
  server = startRootstock(["--store", storeDir, "netboot", flagship.dir, "--listen", "127.0.0.1:0"]);
  server.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    output += chunk;
  });
  server.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    output += chunk;
  });
  port = Number((await serverSays(/^serving http:\/\/127\.0\.0\.1:(\d+)\/ until Ctrl-C/m))[1]);
  runId = (output.match(/^run (\S+): \d+ steps/m) ?? [])[1] ?? "";
  const run = await readRunRecord(join(storeDir, "runs", runId));
  assert.ok(run, `the netboot run is listed while it serves:\n${output}`);
  assert.equal(run.state, "running");
  const key = run.keys[`netboot:${image.name}`];
  assert.ok(key, "the run lists its bundle, so that gc keeps it");
  const dir = new BundleStore(storeDir).dir(key);
  const manifest = await readManifest(dir);
  assert.ok(manifest);
  bundle = { dir, manifest, cached: true };
});

after(async () => {
  // Undefined when before() failed early.
  if (server?.exitCode === null) {
    server.kill("SIGKILL");
    await finished(server);
  }
  await flagship?.remove();
  await rm(work, { recursive: true, force: true });
});

describe("netboot in QEMU", { timeout: 40 * 60_000 }, () => {
  test("the server says how to boot from it", async () => {
    // The instructions come in a few writes; the last says why there is no LAN config.
    await serverSays(/no dnsmasq config: the server listens on loopback only/);
    assert.match(output, new RegExp(`chain http://10\\.0\\.2\\.2:${port}/boot\\.ipxe`));
    // No kexec line on loopback: the booted system would fetch its squashfs from a server kexec took away.
    assert.doesNotMatch(output, /kexec-boot/);
    assert.match(output, /no dnsmasq config: the server listens on loopback only/);
  });

  test("iPXE netboots the system into RAM: root is an overlay of tmpfs on squashfs; a reboot netboots again", async () => {
    const machine = new Machine({
      name: "netboot",
      runDir: join(work, "netboot"),
      ...netbootMachine(image, { port, bundle }),
    });
    try {
      // The firmware's and iPXE's own lines reach the serial console.
      await machine.waitForConsole(/iPXE/);
      await machine.waitForConsole(/rootstock: booting tiny-linux/);
      await machine.waitForConsole(/rootstock-netboot \[[\d.]+\]: verified sha256/);
      await machine.waitForShell();
      const mounts = await machine.succeed("cat /proc/mounts");
      assert.match(
        mounts,
        /^rootstock-root \/ overlay rw,.*lowerdir=\/\.rootstock\/lower,upperdir=\/\.rootstock\/ram\/upper/m,
      );
      assert.match(mounts, /^\/dev\/loop0 \/\.rootstock\/lower squashfs ro/m);
      assert.match(mounts, /^rootstock-ram \/\.rootstock\/ram tmpfs /m);
      const cmdline = await machine.succeed("cat /proc/cmdline");
      assert.match(
        cmdline,
        new RegExp(`rootstock\\.squashfs=http://10\\.0\\.2\\.2:${port}/system\\.squashfs`),
      );
      assert.match(cmdline, new RegExp(`rootstock\\.sha256=${bundle.manifest.squashfs.sha256}`));
      // The squashfs the system runs from is the one the bundle names.
      const sum = await machine.succeed("sha256sum /.rootstock/ram/system.squashfs");
      assert.equal(sum.split(" ")[0], bundle.manifest.squashfs.sha256);
      await machine.succeed("echo here-before-reboot >/root/mark");

      await machine.reboot();
      await machine.waitForConsole(/iPXE/);
      await machine.waitForConsole(/rootstock: booting tiny-linux/);
      await machine.waitForShell();
      // A new RAM root: what the last boot wrote is gone.
      await machine.succeed("grep -q '^rootstock-root / overlay ' /proc/mounts && test ! -e /root/mark");
      const scripts = output.match(/ GET \/boot\.ipxe 200 /g) ?? [];
      assert.ok(scripts.length >= 2, `boot.ipxe was fetched ${scripts.length} times:\n${output}`);
    } finally {
      await machine.stop();
    }
  });

  test("the image's own tests pass against the netbooted system", async () => {
    const target = netbootTestTarget(plan, image, { port, bundle });
    assert.ok(target.modules.length > 0, "the netboot image declares tests");
    const result = await runTests([target], { runDir: join(work, "tests") });
    const failures = result.cases.filter((item) => item.status !== "passed");
    assert.deepEqual(
      failures.map((item) => `${item.module}: ${item.name}: ${item.message}`),
      [],
    );
    assert.ok(result.ok);
  });

  test("a squashfs that is not the bundle's ends in the failure shell on the console", async () => {
    // Same size, one byte changed: the server sends it, the RAM root's sha256 check refuses it.
    const wrong = join(work, "wrong.squashfs");
    await copyFile(join(bundle.dir, "system.squashfs"), wrong);
    const file = await open(wrong, "r+");
    await file.write(Buffer.from([0xff]), 0, 1, bundle.manifest.squashfs.size - 1);
    await file.close();
    const entries = bundleEntries(bundle);
    const served = entries.get("system.squashfs");
    assert.ok(served?.kind === "file");
    entries.set("system.squashfs", { ...served, path: wrong });
    const bad = await startBundleServer(entries, { host: "127.0.0.1", port: 0 });
    const machine = new Machine({
      ...netbootMachine(image, { port: bad.port, bundle }),
      name: "netboot-wrong",
      runDir: join(work, "wrong"),
      // The RAM root's shell, not the system's.
      prompt: /# $/,
    });
    try {
      await machine.waitForConsole(
        new RegExp(
          `rootstock-netboot \\[[\\d.]+\\]: error: sha256 mismatch for .*: expected ${bundle.manifest.squashfs.sha256}`,
        ),
      );
      await machine.waitForConsole(/starting a shell; leave it \(exit\) to try again/);
      // The shell works, in the RAM root: busybox alone, the squashfs downloaded but not mounted.
      await machine.succeed(
        "test -x /bin/busybox && test -f /etc/udhcpc.script && test -s /.rootstock/ram/system.squashfs",
      );
      await machine.fail("grep -q ' /newroot ' /proc/mounts");
    } finally {
      await machine.stop();
      await bad.close();
    }
  });

  test("Ctrl-C stops the server and ends the run well, with its report", async () => {
    server.kill("SIGINT");
    const done = await finished(server);
    assert.equal(done.code, 0, output);
    assert.match(output, /stopped serving/);
    const record = await readRunRecord(join(storeDir, "runs", runId));
    assert.equal(record?.state, "ok");
    assert.ok(record?.keys[`image:${image.name}`], "the run lists the squashfs image too");
  });
  test("--out exports the bundle for a LAN, with a dnsmasq config that dnsmasq accepts, and serves nothing", async () => {
    const out = join(work, "lan");
    const exported = await rootstock([
      "--store",
      storeDir,
      "netboot",
      flagship.dir,
      "--out",
      out,
      "--public-url",
      "http://192.168.1.10:8080/",
    ]);
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stdout, new RegExp(`exported to ${out}: .*system\\.squashfs`));
    assert.doesNotMatch(exported.stdout, /serving/);
    assert.match(
      await readFile(join(out, "boot.ipxe"), "utf8"),
      /^kernel http:\/\/192\.168\.1\.10:8080\/vmlinuz /m,
    );
    const squashfs = await readFile(join(out, "system.squashfs"));
    assert.equal(squashfs.length, bundle.manifest.squashfs.size);
    const check = await run("dnsmasq", ["--test", `--conf-file=${join(out, "dnsmasq.conf")}`]);
    assert.match(check.stderr, /syntax check OK/);
  });
});
