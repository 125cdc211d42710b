/**
 * The netboot HTTP server, for real on 127.0.0.1: only the bundle's files, whatever the request
 * target says; Range and HEAD; a resumed download by the same busybox wget the RAM root uses.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, symlink, truncate, unlink, writeFile } from "node:fs/promises";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import { promisify } from "node:util";
import { RootstockError } from "../src/errors.ts";
import type { RootstockEvent } from "../src/events.ts";
import {
  type BundleServer,
  reserveListen,
  type ServedEntry,
  startBundleServer,
} from "../src/netboot/bundle-server.ts";
import { sha256Of, testBytes } from "./helpers/http-server.ts";
import { rawRequest } from "./helpers/raw-http.ts";

const run = promisify(execFile);

let work: string;
let bundleDir: string;
let server: BundleServer;
let events: RootstockEvent[];
const kernel = testBytes(200_000, 7);
const squashfs = testBytes(1_500_000, 9);
const SECRET = "secret outside the bundle: root:x:0:0\n";

async function entry(name: string, data: Buffer): Promise<ServedEntry> {
  const path = join(bundleDir, name);
  await writeFile(path, data);
  return { kind: "file", path, size: data.length, sha256: sha256Of(data) };
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), "rootstock-netboot-server-"));
  bundleDir = join(work, "bundle");
  await run("mkdir", ["-p", bundleDir]);
  // Things a traversal would like to reach: a file beside the bundle, and one inside it that is not served.
  await writeFile(join(work, "secret"), SECRET);
  await writeFile(join(bundleDir, "unlisted"), SECRET);
  await symlink(join(work, "secret"), join(bundleDir, "escape"));
  const entries = new Map<string, ServedEntry>([
    ["vmlinuz", await entry("vmlinuz", kernel)],
    ["system.squashfs", await entry("system.squashfs", squashfs)],
    [
      "boot.ipxe",
      {
        kind: "rendered",
        contentType: "text/plain; charset=utf-8",
        render: (base) => `#!ipxe\nkernel ${new URL("vmlinuz", base).href}\n`,
      },
    ],
  ]);
  events = [];
  server = await startBundleServer(entries, { emit: (event) => events.push(event) });
});

after(async () => {
  await server?.close();
  await rm(work, { recursive: true, force: true });
});

beforeEach(() => {
  events.length = 0;
});

function assertNothingLeaked(body: Buffer): void {
  assert.ok(!body.toString("latin1").includes("root:x:0:0"), "the response must not hold the secret");
  assert.ok(body.length < 100, `expected a short error body, got ${body.length} bytes`);
}

describe("netboot server", () => {
  test("listens on 127.0.0.1 unless told otherwise, and says where", () => {
    assert.equal(server.address, "127.0.0.1");
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  });

  test("GET serves a bundle file whole, with its length, validator and Range support", async () => {
    const response = await rawRequest(server.port, "/vmlinuz");
    assert.equal(response.status, 200);
    assert.equal(response.headers["content-length"], String(kernel.length));
    assert.equal(response.headers["accept-ranges"], "bytes");
    assert.equal(response.headers.etag, `"${sha256Of(kernel)}"`);
    assert.equal(response.headers["content-type"], "application/octet-stream");
    assert.ok(response.body.equals(kernel));
  });

  test("HEAD answers the same headers without a body", async () => {
    const response = await rawRequest(server.port, "/system.squashfs", { method: "HEAD" });
    assert.equal(response.status, 200);
    assert.equal(response.headers["content-length"], String(squashfs.length));
    assert.equal(response.body.length, 0);
    const ranged = await rawRequest(server.port, "/system.squashfs", {
      method: "HEAD",
      headers: { range: "bytes=10-19" },
    });
    assert.equal(ranged.status, 206);
    assert.equal(ranged.headers["content-length"], "10");
    assert.equal(ranged.body.length, 0);
  });

  test("path traversal, encoded or not, names nothing", async () => {
    const targets = [
      "/..",
      "/../secret",
      "/../../../../etc/passwd",
      "/%2e%2e/secret",
      "/%2E%2E/%2E%2E/etc/passwd",
      "/%2e%2e%2fsecret",
      "/..%2fsecret",
      "/.%2e/secret",
      "/vmlinuz/../secret",
      "/./vmlinuz",
      "//vmlinuz",
      "//etc/passwd",
      "///etc/passwd",
      "/etc/passwd",
      `/${join(work, "secret")}`,
      join(work, "secret"),
      "/..\\secret",
      "/..\\..\\etc\\passwd",
      "\\..\\secret",
      "/%5c..%5csecret",
      "/vmlinuz%00",
      "/vmlinuz/",
      "/VMLINUZ",
      "/unlisted",
      "/escape",
      "/",
      "*",
      `http://127.0.0.1:${server.port}/../secret`,
    ];
    for (const target of targets) {
      const response = await rawRequest(server.port, target);
      assert.ok(
        response.status === 404 || response.status === 400,
        `${target}: expected 404 or 400, got ${response.status}`,
      );
      assertNothingLeaked(response.body);
    }
  });

  test("a bundle file replaced by a symbolic link out of the bundle is refused, not followed", async () => {
    const path = join(bundleDir, "vmlinuz");
    const outside = join(work, "same-size-secret");
    await writeFile(
      outside,
      Buffer.concat([Buffer.from(SECRET), Buffer.alloc(kernel.length - SECRET.length)]),
    );
    await unlink(path);
    await symlink(outside, path);
    try {
      const response = await rawRequest(server.port, "/vmlinuz");
      assert.equal(response.status, 404);
      assertNothingLeaked(response.body);
    } finally {
      await unlink(path);
      await writeFile(path, kernel);
    }
    assert.equal((await rawRequest(server.port, "/vmlinuz")).status, 200);
  });

  test("a bundle file whose size changed is not served as if it were the bundle's", async () => {
    const path = join(bundleDir, "vmlinuz");
    await truncate(path, 1000);
    try {
      const response = await rawRequest(server.port, "/vmlinuz");
      assert.equal(response.status, 500);
      assert.match(response.body.toString(), /changed/);
    } finally {
      await writeFile(path, kernel);
    }
  });

  test("a single range is 206 with exactly those bytes", async () => {
    const cases: [string, number, number][] = [
      ["bytes=0-0", 0, 0],
      ["bytes=100-199", 100, 199],
      ["bytes=1499990-", 1_499_990, 1_499_999],
      ["bytes=-16", 1_499_984, 1_499_999],
      ["bytes=1000-99999999", 1000, 1_499_999],
    ];
    for (const [range, start, end] of cases) {
      const response = await rawRequest(server.port, "/system.squashfs", { headers: { range } });
      assert.equal(response.status, 206, range);
      assert.equal(response.headers["content-range"], `bytes ${start}-${end}/${squashfs.length}`, range);
      assert.equal(response.headers["content-length"], String(end - start + 1), range);
      assert.ok(response.body.equals(squashfs.subarray(start, end + 1)), range);
    }
  });

  test("a range past the end is 416 with the size; malformed and multiple ranges get the whole file", async () => {
    for (const range of ["bytes=1500000-", "bytes=2000000-2000010", "bytes=-0"]) {
      const response = await rawRequest(server.port, "/system.squashfs", { headers: { range } });
      assert.equal(response.status, 416, range);
      assert.equal(response.headers["content-range"], `bytes */${squashfs.length}`, range);
      assertNothingLeaked(response.body);
    }
    for (const range of ["bytes=abc", "bytes=5-1", "pages=1-2", "bytes=0-1,10-20", "bytes=", "bytes=--5"]) {
      const response = await rawRequest(server.port, "/vmlinuz", { headers: { range } });
      assert.equal(response.status, 200, range);
      assert.ok(response.body.equals(kernel), range);
    }
  });

  test("If-Range: a range only for the representation the client holds part of", async () => {
    const etag = `"${sha256Of(kernel)}"`;
    const same = await rawRequest(server.port, "/vmlinuz", {
      headers: { range: "bytes=10-", "if-range": etag },
    });
    assert.equal(same.status, 206);
    assert.ok(same.body.equals(kernel.subarray(10)));
    const other = await rawRequest(server.port, "/vmlinuz", {
      headers: { range: "bytes=10-", "if-range": '"something-else"' },
    });
    assert.equal(other.status, 200);
    assert.ok(other.body.equals(kernel));
  });

  test("busybox wget -c resumes a partial download with a Range request", async () => {
    const target = join(work, "resumed.squashfs");
    await writeFile(target, squashfs.subarray(0, 600_000));
    await run("busybox", ["wget", "-q", "-c", "-O", target, `${server.url}system.squashfs`]);
    assert.equal(sha256Of(await readFile(target)), sha256Of(squashfs));
    const requests = events.filter((event) => event.type === "netboot:request");
    assert.equal(requests.length, 1);
    assert.equal(requests[0]?.range, "bytes=600000-");
    assert.equal(requests[0]?.status, 206);
    assert.equal(requests[0]?.bytes, squashfs.length - 600_000);
  });

  test("other methods are refused with the ones allowed", async () => {
    for (const method of ["POST", "PUT", "DELETE", "OPTIONS"]) {
      const response = await rawRequest(server.port, "/vmlinuz", { method });
      assert.equal(response.status, 405, method);
      assert.equal(response.headers.allow, "GET, HEAD");
    }
  });

  test("a rendered entry uses the Host the client named, or the listening address for a bad one", async () => {
    const named = await rawRequest(server.port, "/boot.ipxe", { headers: { host: "10.0.2.2:8080" } });
    assert.equal(named.status, 200);
    assert.equal(named.body.toString(), "#!ipxe\nkernel http://10.0.2.2:8080/vmlinuz\n");
    for (const host of ["evil host", "a/b", "x@y", "[zz]", "a:b:c", ""]) {
      const fallback = await rawRequest(server.port, "/boot.ipxe", { headers: { host } });
      if (fallback.status === 400) continue;
      assert.equal(fallback.body.toString(), `#!ipxe\nkernel ${server.url}vmlinuz\n`, host);
    }
  });

  test("each request is one event: method, target, status, bytes, range", async () => {
    await rawRequest(server.port, "/vmlinuz", { headers: { range: "bytes=0-9" } });
    await rawRequest(server.port, "/nothing");
    const requests = events.filter((event) => event.type === "netboot:request");
    assert.deepEqual(
      requests.map(({ method, path, status, bytes, range, complete }) => ({
        method,
        path,
        status,
        bytes,
        range,
        complete,
      })),
      [
        { method: "GET", path: "/vmlinuz", status: 206, bytes: 10, range: "bytes=0-9", complete: true },
        { method: "GET", path: "/nothing", status: 404, bytes: 10, range: undefined, complete: true },
      ],
    );
    assert.equal(requests[0]?.remote, "127.0.0.1");
    // A refusal says what the client was told, for the operator too.
    assert.equal(requests[1]?.type === "netboot:request" && requests[1].note, "not found");
    assert.equal(requests[0]?.type === "netboot:request" && requests[0].note, undefined);
  });

  test("a download cut short by stopping the server is logged before close() returns", async () => {
    const stopped: RootstockEvent[] = [];
    const entries = new Map<string, ServedEntry>([
      ["system.squashfs", await entry("system.squashfs", squashfs)],
    ]);
    const other = await startBundleServer(entries, { emit: (event) => stopped.push(event) });
    const socket = connect(other.port, "127.0.0.1");
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", () => socket.write("GET /system.squashfs HTTP/1.1\r\nHost: x\r\n\r\n"));
      // Reads nothing more: the response stays open until the server stops.
      socket.once("data", () => {
        socket.pause();
        resolve();
      });
      socket.once("error", reject);
    });
    await other.close();
    socket.destroy();
    const request = stopped.find((event) => event.type === "netboot:request");
    assert.ok(request?.type === "netboot:request", "the cut download was logged");
    assert.equal(request.complete, false);
  });

  test("without a Host header, a server on every interface names the address the client came in on", async () => {
    const everywhere = await startBundleServer(
      new Map([["boot.ipxe", { kind: "rendered", contentType: "text/plain", render: (base) => base.href }]]),
      { host: "0.0.0.0" },
    );
    try {
      // HTTP/1.0 has no Host header.
      const text = await new Promise<string>((resolve, reject) => {
        let received = "";
        const socket = connect(everywhere.port, "127.0.0.1", () =>
          socket.write("GET /boot.ipxe HTTP/1.0\r\n\r\n"),
        );
        socket.on("data", (chunk: Buffer) => {
          received += chunk.toString();
        });
        socket.on("end", () => resolve(received));
        socket.on("error", reject);
      });
      assert.match(text, /^HTTP\/1\.[01] 200/);
      assert.ok(text.endsWith(`\r\n\r\nhttp://127.0.0.1:${everywhere.port}/`), text);
    } finally {
      await everywhere.close();
    }
  });

  test("a client that goes away before the end is logged as cut short, with its address", async () => {
    await new Promise<void>((resolve, reject) => {
      const socket = connect(server.port, "127.0.0.1", () => {
        socket.write("GET /system.squashfs HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
      });
      socket.once("data", () => {
        socket.destroy();
        resolve();
      });
      socket.once("error", reject);
    });
    for (let wait = 0; wait < 100; wait++) {
      if (events.some((event) => event.type === "netboot:request")) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const request = events.find((event) => event.type === "netboot:request");
    assert.equal(request?.type === "netboot:request" && request.complete, false);
    assert.equal(request?.type === "netboot:request" && request.remote, "127.0.0.1");
  });

  test("a public URL overrides the Host header", async () => {
    const other = await startBundleServer(
      new Map([["boot.ipxe", { kind: "rendered", contentType: "text/plain", render: (base) => base.href }]]),
      { publicUrl: "http://192.168.1.10:8080/netboot" },
    );
    try {
      const response = await rawRequest(other.port, "/boot.ipxe", { headers: { host: "10.0.2.2:1" } });
      assert.equal(response.body.toString(), "http://192.168.1.10:8080/netboot/");
    } finally {
      await other.close();
    }
  });

  test("a port in use is a user error naming the address, and aborting closes the server", async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    const { port } = busy.address() as { port: number };
    try {
      // Told the same way before a build (reserveListen) as when serving starts.
      for (const attempt of [
        () => startBundleServer(new Map(), { port }),
        () => reserveListen("127.0.0.1", port),
      ])
        await assert.rejects(attempt(), (error: unknown) => {
          assert.ok(error instanceof RootstockError);
          assert.equal(error.code, "ERR_NETBOOT_LISTEN_FAILED");
          assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${port}: the port is in use`));
          return true;
        });
    } finally {
      await new Promise<void>((resolve) => busy.close(() => resolve()));
    }
    // Reserved before a build, the address is refused to another until released, then served.
    const reserved = await reserveListen("127.0.0.1", port);
    await assert.rejects(reserveListen("127.0.0.1", port), { code: "ERR_NETBOOT_LISTEN_FAILED" });
    await reserved.release();
    const served = await startBundleServer(new Map(), { port });
    await served.close();
    const controller = new AbortController();
    const stopping = await startBundleServer(new Map(), { signal: controller.signal });
    controller.abort();
    await stopping.close();
    await assert.rejects(rawRequest(stopping.port, "/"), /ECONNREFUSED/);
  });
});
