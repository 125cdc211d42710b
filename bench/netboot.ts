/**
 * How fast the netboot server hands out a system: a squashfs-sized file served by the bundle server on
 * 127.0.0.1 and fetched by busybox wget, the client the RAM root uses (whole, then resumed from half
 * with `wget -c`). Prints figures; asserts nothing.
 * Run: node bench/netboot.ts [MiB]
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { startBundleServer } from "../src/netboot/bundle-server.ts";
import { sha256Of, testBytes } from "../test/helpers/http-server.ts";

const run = promisify(execFile);
const mib = Number(process.argv[2] ?? 256);
const work = await mkdtemp(join(tmpdir(), "rootstock-bench-netboot-"));
const rate = (bytes: number, ms: number) => `${(bytes / (1 << 20) / (ms / 1000)).toFixed(0)} MiB/s`;
try {
  const body = testBytes(mib << 20, 5);
  const file = join(work, "system.squashfs");
  await writeFile(file, body);
  const server = await startBundleServer(
    new Map([["system.squashfs", { kind: "file", path: file, size: body.length, sha256: sha256Of(body) }]]),
  );
  try {
    const target = join(work, "fetched");
    const url = `${server.url}system.squashfs`;
    let started = performance.now();
    await run("busybox", ["wget", "-q", "-O", target, url]);
    const whole = performance.now() - started;
    console.log(
      `busybox wget, ${mib} MiB over loopback: ${whole.toFixed(0)} ms (${rate(body.length, whole)})`,
    );

    await truncate(target, body.length >> 1);
    started = performance.now();
    await run("busybox", ["wget", "-q", "-c", "-O", target, url]);
    const resumed = performance.now() - started;
    console.log(`busybox wget -c from half: ${resumed.toFixed(0)} ms (${rate(body.length >> 1, resumed)})`);

    started = performance.now();
    const response = await fetch(url);
    const received = (await response.arrayBuffer()).byteLength;
    const node = performance.now() - started;
    console.log(`Node fetch, ${mib} MiB: ${node.toFixed(0)} ms (${rate(received, node)})`);
  } finally {
    await server.close();
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
