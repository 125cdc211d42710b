/** fetchSources against a real HTTP server on 127.0.0.1: downloads, resume, mirrors, offline, hostile servers. */
import assert from "node:assert/strict";
import { statSync } from "node:fs";
import {
  chmod,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  truncate,
  writeFile,
} from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, beforeEach, describe, test } from "node:test";
import { RootstockError, RootstockErrors } from "../src/errors.ts";
import type { RootstockEvent } from "../src/events.ts";
import { type FetchOptions, fetchSources, type SourceRequest } from "../src/sources/fetch-sources.ts";
import { importSources } from "../src/sources/import-sources.ts";
import { SourceStore } from "../src/sources/source-store.ts";
import { StoreLocks } from "../src/store/store-locks.ts";
import { type Route, sha256Of, startServer, type TestServer, testBytes } from "./helpers/http-server.ts";

let server: TestServer;
let work: string;
let storeDir: string;
let events: RootstockEvent[];

before(async () => {
  server = await startServer();
});
after(async () => {
  await server.close();
});
beforeEach(async () => {
  server.reset();
  work = await mkdtemp(join(tmpdir(), "rootstock-fetch-"));
  storeDir = join(work, "store");
  events = [];
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

function options(extra: Partial<FetchOptions> = {}): FetchOptions {
  return { storeDir, emit: (event) => events.push(event), proxyEnv: {}, ...extra };
}

function serve(path: string, route: Route): SourceRequest {
  server.routes.set(path, route);
  const body = route.body as Buffer;
  return {
    file: path.split("/").pop() as string,
    sha256: sha256Of(body),
    size: body.length,
    url: `${server.url}${path}`,
    mirrors: [],
    extract: false,
    steps: ["demo"],
  };
}

function sentFor(path: string): number {
  return server.requests.filter((request) => request.path === path).reduce((sum, r) => sum + r.sent, 0);
}

async function errorOf(promise: Promise<unknown>): Promise<RootstockErrors> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof RootstockErrors, `expected RootstockErrors, got ${String(error)}`);
    return error;
  }
  assert.fail("expected fetchSources to fail");
}

async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

describe("fetchSources", () => {
  test("a good download lands in the store, read-only, with progress events", async () => {
    const body = testBytes(300_000);
    const source = serve("/files/good.tar.gz", { body, etag: '"g1"' });
    const result = await fetchSources([source], options());
    assert.equal(result.fetched.length, 1);
    assert.equal(result.fetched[0]?.from, source.url);
    const store = new SourceStore(storeDir);
    const stored = store.path(source.sha256);
    assert.deepEqual(await readFile(stored), body);
    assert.equal((await stat(stored)).mode & 0o222, 0, "stored sources are read-only");
    assert.ok(events.some((event) => event.type === "fetch:progress" && event.received === body.length));
    assert.ok(events.some((event) => event.type === "source:admitted" && event.sha256 === source.sha256));

    const again = await fetchSources([source], options());
    assert.equal(again.present.length, 1);
    assert.equal(server.requests.length, 1, "a present source is not downloaded again");
  });

  test("a wrong hash quarantines the file, admits nothing, and names URL, expected and actual", async () => {
    const body = testBytes(50_000, 7);
    const source = serve("/files/wrong.tar.gz", { body: testBytes(50_000, 8) });
    source.sha256 = sha256Of(body);
    const actual = sha256Of(testBytes(50_000, 8));
    const error = await errorOf(fetchSources([source], options()));
    assert.equal(error.code, "ERR_SOURCES_UNAVAILABLE");
    const message = error.errors[0]?.message ?? "";
    assert.match(message, new RegExp(`${source.url}.*sha256 mismatch`));
    assert.ok(message.includes(`expected sha256 ${source.sha256}`), message);
    assert.ok(message.includes(`actual   sha256 ${actual}`), message);
    const store = new SourceStore(storeDir);
    assert.equal(await store.has(source.sha256), false);
    assert.equal(await store.has(actual), false);
    const kept = await readdir(store.quarantineDir);
    assert.equal(kept.length, 1);
    assert.match(kept[0] as string, /wrong\.tar\.gz$/);
    assert.deepEqual(await readFile(join(store.quarantineDir, kept[0] as string)), testBytes(50_000, 8));
    assert.ok(events.some((event) => event.type === "fetch:quarantined" && event.actual === actual));
  });

  test("the same wrong file fetched again is quarantined once", async () => {
    const source = serve("/files/again.tar.gz", { body: testBytes(10_000, 9) });
    source.sha256 = sha256Of(testBytes(10_000, 10));
    source.size = 10_000;
    await errorOf(fetchSources([source], options()));
    await errorOf(fetchSources([source], options()));
    const kept = await readdir(new SourceStore(storeDir).quarantineDir);
    assert.deepEqual(kept, [`${sha256Of(testBytes(10_000, 9)).slice(0, 16)}-again.tar.gz`]);
  });

  test("a right file with a wrong pinned size blames the pin, not the file", async () => {
    // A local file: over HTTP, the announced length is checked against the pin before any byte comes.
    const local = join(work, "sized.tar.gz");
    await writeFile(local, testBytes(161, 11));
    const source = { ...serve("/files/sized.tar.gz", { body: testBytes(161, 11) }), url: `file://${local}` };
    source.size = 100;
    const error = await errorOf(fetchSources([source], options()));
    const message = error.errors[0]?.message ?? "";
    assert.match(message, /the sha256 matches the pin, but the file is 161 bytes, not the pinned 100/);
    assert.match(message, /the pin's size is wrong/);
    const store = new SourceStore(storeDir);
    assert.equal(await store.has(source.sha256), false);
    assert.deepEqual(await readdir(store.quarantineDir).catch(() => []), []);
  });

  test("a wrong size pinned by one of two sources of the same file is checked too, not skipped", async () => {
    const local = join(work, "shared.tar.gz");
    await writeFile(local, testBytes(161, 13));
    const plain = { ...serve("/files/shared.tar.gz", { body: testBytes(161, 13) }), url: `file://${local}` };
    const { size: _, ...unsized } = plain;
    const sized = { ...plain, file: "b.tar.gz", size: 162 };
    const error = await errorOf(fetchSources([unsized, sized], options()));
    assert.match(error.errors[0]?.message ?? "", /the file is 161 bytes, not the pinned 162/);
    assert.equal(await new SourceStore(storeDir).has(plain.sha256), false);
  });

  test("a wrong pinned size is refused even when the file is already in the store, and on import", async () => {
    const local = join(work, "present.tar.gz");
    await writeFile(local, testBytes(300, 12));
    const sha256 = sha256Of(testBytes(300, 12));
    const imported = await importSources([local], { storeDir });
    assert.equal(imported.imported[0]?.added, true);
    const pin: SourceRequest = {
      file: "present.tar.gz",
      sha256,
      size: 299,
      steps: ["build"],
      mirrors: [],
      extract: true,
    };
    await assert.rejects(fetchSources([pin], options()), (error: unknown) => {
      assert.ok(error instanceof RootstockError);
      assert.equal(error.code, "ERR_SOURCE_SIZE_PIN");
      assert.match(error.message, /source present\.tar\.gz \(step build\): .* 300 bytes, not the pinned 299/);
      return true;
    });
    await assert.rejects(importSources([local], { storeDir, pins: [pin] }), /the pin's size is wrong/);
  });

  test("a stored source damaged since (cut short) is set aside and fetched again, not blamed on the pin", async () => {
    const local = join(work, "damaged.tar.gz");
    await writeFile(local, testBytes(400, 13));
    const sha256 = sha256Of(testBytes(400, 13));
    await importSources([local], { storeDir });
    const store = new SourceStore(storeDir);
    await chmod(store.path(sha256), 0o644);
    await truncate(store.path(sha256), 100);
    const pin: SourceRequest = {
      file: "damaged.tar.gz",
      sha256,
      size: 400,
      url: `file://${local}`,
      mirrors: [],
      extract: true,
    };
    const result = await fetchSources([pin], options());
    assert.equal(result.fetched.length, 1);
    assert.equal((await stat(store.path(sha256))).size, 400);
    assert.ok((await readdir(store.quarantineDir)).some((name) => name.endsWith("damaged.tar.gz")));
  });

  test("after a mirror serving the wrong file, the next candidate gives the right one", async () => {
    const body = testBytes(20_000, 25);
    const source = serve("/files/right.tar.gz", { body });
    server.routes.set("/m/right.tar.gz", { body: testBytes(20_000, 26) });
    const result = await fetchSources([source], options({ mirrors: [`${server.url}/m`] }));
    assert.equal(result.fetched[0]?.from, source.url);
    const failed = events.find(
      (event) => event.type === "fetch:attempt-failed" && event.from.endsWith("/m/right.tar.gz"),
    );
    assert.match(failed?.type === "fetch:attempt-failed" ? failed.reason : "", /sha256 mismatch/);
    assert.equal((await readdir(new SourceStore(storeDir).quarantineDir)).length, 1);
    assert.deepEqual(await readFile(new SourceStore(storeDir).path(source.sha256)), body);
  });

  test("a connection cut halfway is resumed with Range in the same fetch, not restarted", async () => {
    const body = testBytes(400_000, 3);
    const source = serve("/files/cut.tar.xz", { body, etag: '"c1"', cutAfter: 150_000 });
    await fetchSources([source], options());
    const [first, second] = server.requests;
    assert.equal(server.requests.length, 2);
    assert.equal(first?.range, undefined);
    assert.equal(first?.sent, 150_000);
    assert.equal(second?.range, "bytes=150000-");
    assert.equal(second?.ifRange, '"c1"');
    assert.equal(second?.status, 206);
    assert.equal(sentFor("/files/cut.tar.xz"), body.length, "the server sent every byte exactly once");
    assert.deepEqual(await readFile(new SourceStore(storeDir).path(source.sha256)), body);
  });

  test("a partial download left by a failed run is resumed by the next run", async () => {
    const body = testBytes(200_000, 4);
    const lastModified = "Tue, 01 Jul 2025 10:00:00 GMT";
    const path = "/files/next.tar.gz";
    // The first run gets 80 000 bytes, then the server fails for good.
    const source = serve(path, { body, lastModified, cutAfter: 80_000, afterwards: { status: 503 } });
    const failed = await errorOf(fetchSources([source], options()));
    assert.match(failed.errors[0]?.message ?? "", /HTTP 503/);
    assert.equal(sentFor(path), 80_000);

    server.routes.set(path, { body, lastModified });
    await fetchSources([source], options());
    const last = server.requests.at(-1);
    assert.equal(last?.range, "bytes=80000-");
    assert.equal(last?.ifRange, lastModified);
    assert.equal(last?.sent, body.length - 80_000);
    assert.equal(sentFor(path), body.length, "no byte was sent twice");
    assert.deepEqual(await readFile(new SourceStore(storeDir).path(source.sha256)), body);
  });

  test("a server that ignores Range after a cut is restarted cleanly", async () => {
    const body = testBytes(120_000, 5);
    const source = serve("/files/norange.tar.gz", { body, etag: '"n1"', ranges: false, cutAfter: 50_000 });
    await fetchSources([source], options());
    const [, second] = server.requests;
    assert.equal(second?.range, "bytes=50000-");
    assert.equal(second?.status, 200);
    assert.equal(second?.sent, body.length);
    assert.deepEqual(await readFile(new SourceStore(storeDir).path(source.sha256)), body);
  });

  test("a partial is never spliced onto a changed file: If-Range fails, the server sends it whole", async () => {
    const path = "/files/changed.tar.gz";
    const old = testBytes(100_000, 10);
    serve(path, { body: old, etag: '"v1"', cutAfter: 40_000, afterwards: { status: 503 } });
    const newer = testBytes(100_000, 11);
    const source = { ...serve(path, { body: newer, etag: '"v2"' }) };
    // The first run fetches 40 000 bytes of the old file (its pin is irrelevant: the download is cut).
    server.routes.set(path, { body: old, etag: '"v1"', cutAfter: 40_000, afterwards: { status: 503 } });
    await errorOf(fetchSources([source], options()));
    server.routes.set(path, { body: newer, etag: '"v2"' });
    await fetchSources([source], options());
    const last = server.requests.at(-1);
    assert.equal(last?.ifRange, '"v1"');
    assert.equal(last?.status, 200);
    assert.deepEqual(await readFile(new SourceStore(storeDir).path(source.sha256)), newer);
  });

  test("without ETag or Last-Modified, a 206 announcing another total restarts the download", async () => {
    const path = "/files/sized.tar.gz";
    const old = testBytes(90_000, 12);
    const newer = testBytes(130_000, 13);
    const { size: _size, ...source } = serve(path, { body: newer });
    server.routes.set(path, { body: old, cutAfter: 30_000, afterwards: { status: 503 } });
    await errorOf(fetchSources([source], options()));
    server.routes.set(path, { body: newer });
    const firstRun = server.requests.length;
    await fetchSources([source], options());
    const [resumed, restarted] = server.requests.slice(firstRun);
    assert.equal(resumed?.range, "bytes=30000-", "the resume was asked for");
    assert.equal(resumed?.status, 206);
    assert.equal(restarted?.range, undefined, "then the file was fetched from the start");
    assert.deepEqual(await readFile(new SourceStore(storeDir).path(source.sha256)), newer);
  });

  test("a stalled transfer times out and is resumed", async () => {
    const body = testBytes(64_000, 14);
    const source = serve("/files/stall.tar.gz", { body, etag: '"s1"', stallAfter: 10_000 });
    await fetchSources([source], options({ stallTimeoutMs: 200 }));
    assert.equal(server.requests[1]?.range, "bytes=10000-");
    assert.ok(events.some((event) => event.type === "fetch:start" && event.resumeAt === 10_000));
    assert.deepEqual(await readFile(new SourceStore(storeDir).path(source.sha256)), body);
  });

  test("a dead mirror is followed by the next candidate", async () => {
    const body = testBytes(10_000, 15);
    const source = serve("/files/after-dead.tar.gz", { body });
    const dead = `http://127.0.0.1:${await closedPort()}/mirror/`;
    const emptyFolder = join(work, "empty-mirror");
    const result = await fetchSources([{ ...source, mirrors: [emptyFolder] }], options({ mirrors: [dead] }));
    assert.equal(result.fetched[0]?.from, source.url);
    const failed = events.filter((event) => event.type === "fetch:attempt-failed");
    assert.ok(failed.some((event) => event.from.startsWith(dead) && /connection refused/.test(event.reason)));
    assert.ok(
      failed.some((event) => event.from.startsWith(emptyFolder) && /no such file/.test(event.reason)),
    );
  });

  test("--offline reports every missing source at once and touches no network", async () => {
    const sources = [1, 2, 3].map((seed) => ({
      ...serve(`/files/offline-${seed}.tar.gz`, { body: testBytes(1000, seed) }),
      steps: [`step-${seed}`],
    }));
    const error = await errorOf(
      fetchSources(sources, options({ offline: true, mirrors: [`${server.url}/m/`] })),
    );
    assert.equal(error.code, "ERR_SOURCES_MISSING");
    assert.equal(error.errors.length, 3);
    for (const [index, source] of sources.entries()) {
      const message = error.errors[index]?.message ?? "";
      assert.ok(message.includes(`step step-${index + 1}`), message);
      assert.ok(message.includes(source.file), message);
      assert.ok(message.includes(source.sha256), message);
      assert.ok(message.includes(source.url as string), message);
    }
    assert.match(error.hint ?? "", /rootstock fetch/);
    assert.match(error.hint ?? "", /rootstock sources import/);
    assert.match(
      error.hint ?? "",
      /or give a mirror folder with --mirror DIR\); the URL mirrors given are not used offline/,
    );
    assert.equal(server.requests.length, 0, "the server saw no request");
  });

  test("offline, mirrors that do not have a file say why: no such folder, a file where a folder is, a folder", async () => {
    const source = { ...serve("/files/mirrored.tar.gz", { body: testBytes(500, 41) }), steps: ["m"] };
    const aFile = join(work, "a-file");
    await writeFile(aFile, "not a mirror");
    const folders = join(work, "mirror-with-folders");
    await mkdir(join(folders, "sha256", source.sha256), { recursive: true });
    const error = await errorOf(
      fetchSources([source], options({ offline: true, mirrors: [join(work, "no-mirror"), aFile, folders] })),
    );
    assert.match(
      error.message,
      /1 source is not in the store, nor where rootstock looked without a network \(see below\)/,
    );
    // Mirrors were given: the hint is to check them, not to give one.
    assert.match(
      error.hint ?? "",
      /check that the mirror given, with --mirror or \$ROOTSTOCK_MIRRORS, is the folder `rootstock mirror` wrote/,
    );
    const message = error.errors[0]?.message ?? "";
    assert.ok(message.includes(`no such file (there is no folder ${join(work, "no-mirror")})`), message);
    assert.ok(message.includes(`no such file (${aFile} is a file, not a folder)`), message);
    assert.ok(message.includes(`${join(folders, "sha256", source.sha256)}: a folder, not a file`), message);
  });

  test("redirects are followed within http(s), never to another scheme", async () => {
    const body = testBytes(5000, 16);
    const source = serve("/files/real.tar.gz", { body });
    server.routes.set("/old/real.tar.gz", { location: "/files/real.tar.gz", status: 301 });
    await fetchSources([{ ...source, url: `${server.url}/old/real.tar.gz` }], options());
    assert.ok(await new SourceStore(storeDir).has(source.sha256));

    const other = serve("/files/evil.tar.gz", { body: testBytes(5000, 17) });
    server.routes.set("/files/evil.tar.gz", { location: "file:///etc/passwd" });
    const error = await errorOf(fetchSources([other], options()));
    assert.match(error.errors[0]?.message ?? "", /redirects to file: .*only http and https/);
    assert.match(error.errors[0]?.message ?? "", /ERR_FETCH_REDIRECT/);

    const looping = serve("/files/loop.tar.gz", { body: testBytes(10, 18) });
    server.routes.set("/files/loop.tar.gz", { location: "/files/loop.tar.gz" });
    const loop = await errorOf(fetchSources([looping], options()));
    assert.match(loop.errors[0]?.message ?? "", /more than 10 redirects/);
  });

  test("a body beyond the pinned size is refused, announced or not", async () => {
    const pinned = testBytes(20_000, 19);
    const bigger = Buffer.concat([pinned, testBytes(20_000, 20)]);
    const announced = serve("/files/announced.tar.gz", { body: pinned });
    server.routes.set("/files/announced.tar.gz", { body: bigger });
    const error = await errorOf(fetchSources([announced], options()));
    assert.match(error.errors[0]?.message ?? "", /announces 40000 bytes, the pin says 20000/);

    const streamed = serve("/files/streamed.tar.gz", { body: pinned });
    server.routes.set("/files/streamed.tar.gz", { body: bigger, chunked: true });
    const tooLarge = await errorOf(fetchSources([streamed], options()));
    assert.match(tooLarge.errors[0]?.message ?? "", /grows beyond 20000 bytes \(pinned size\)/);
    assert.equal(await new SourceStore(storeDir).has(streamed.sha256), false);
  });

  test("a server that lies about Content-Length: too long is a cut (resumed), too short a mismatch", async () => {
    const body = testBytes(30_000, 21);
    const long = serve("/files/long.tar.gz", { body, etag: '"l1"' });
    server.routes.set("/files/long.tar.gz", {
      body: body.subarray(0, 12_000),
      contentLength: 30_000,
      etag: '"l1"',
      times: 1,
      afterwards: { body, etag: '"l1"' },
    });
    await fetchSources([{ ...long, size: undefined }], options());
    assert.equal(server.requests[1]?.range, "bytes=12000-");
    assert.deepEqual(await readFile(new SourceStore(storeDir).path(long.sha256)), body);

    const other = testBytes(30_000, 22);
    const short = serve("/files/short.tar.gz", { body: other });
    server.routes.set("/files/short.tar.gz", { body: other, contentLength: 10_000 });
    const { size: _size, ...unsized } = short;
    const error = await errorOf(fetchSources([unsized], options()));
    assert.match(error.errors[0]?.message ?? "", /sha256 mismatch/);
  });

  test("two fetches of the same file at once download it once: the second waits for the first", async () => {
    const body = testBytes(100_000, 23);
    const source = serve("/files/shared.tar.gz", { body });
    const [first, second] = await Promise.all([
      fetchSources([source], options()),
      fetchSources([{ ...source, steps: ["other"] }], options()),
    ]);
    assert.equal(server.requests.length, 1);
    assert.equal(first.fetched.length + second.fetched.length, 1);
    assert.equal(first.present.length + second.present.length, 1);
  });

  test("a fetch behind another's download says so, and a lock file a killed older rootstock left blocks nothing", async () => {
    const body = testBytes(20_000, 26);
    const source = serve("/files/waited.tar.gz", { body });
    // An older rootstock's pid file, naming a live process (pid 1): no lock for this one.
    await mkdir(join(storeDir, "sources", "partial"), { recursive: true });
    await writeFile(join(storeDir, "sources", "partial", `${source.sha256}.lock`), "1\n");
    const held = await new StoreLocks(storeDir).tryAcquire(`download-${source.sha256}`, {
      runId: "",
      pid: 4242,
      what: "a test",
    });
    assert.ok(held);
    let heard: (event: RootstockEvent) => void = () => {};
    const waited = new Promise<RootstockEvent>((resolve) => {
      heard = resolve;
    });
    const fetched = fetchSources(
      [source],
      options({ emit: (event) => (event.type === "fetch:waiting" ? heard(event) : undefined) }),
    );
    assert.deepEqual(await waited, {
      type: "fetch:waiting",
      sha256: source.sha256,
      file: "waited.tar.gz",
      pid: 4242,
    });
    await held.release();
    assert.equal((await fetched).fetched.length, 1, "it went on once the lock was free");
  });

  test("cancelling keeps the partial download, and the next fetch resumes it", async () => {
    const body = testBytes(90_000, 24);
    const source = serve("/files/cancel.tar.gz", { body, etag: '"x1"', stallAfter: 30_000 });
    const controller = new AbortController();
    const emit = (event: RootstockEvent) => {
      events.push(event);
      if (event.type === "fetch:progress" && event.received === 30_000) controller.abort();
    };
    await assert.rejects(fetchSources([source], options({ emit, signal: controller.signal })), {
      code: "ERR_FETCH_ABORTED",
    });
    assert.equal((await stat(join(storeDir, "sources", "partial", source.sha256))).size, 30_000);
    await fetchSources([source], options());
    assert.equal(server.requests.at(-1)?.range, "bytes=30000-");
    assert.deepEqual(await readFile(new SourceStore(storeDir).path(source.sha256)), body);
    // With everything present, a cancel cancelled no fetch: it is the caller's to tell.
    const present = await fetchSources([source], options({ signal: AbortSignal.abort() }));
    assert.equal(present.present.length, 1);
  });

  test("a file that changes while it is imported is refused as such, and nothing is quarantined", async () => {
    // The kernel makes /proc files as they are read: hashed and copied, they differ.
    await assert.rejects(importSources(["/proc/self/status"], { storeDir }), {
      code: "ERR_SOURCE_CHANGED",
      message: /^\/proc\/self\/status changed while it was read: sha256 \w+/,
    });
    assert.deepEqual(await readdir(join(storeDir, "sources", "quarantine")).catch(() => []), []);
  });

  test("sources/sha256 on another file system is the store's failure: fetch stops at it, import says it", {
    skip:
      statSync("/dev/shm", { throwIfNoEntry: false })?.dev === statSync(tmpdir()).dev
        ? "/dev/shm is no other file system here"
        : undefined,
  }, async () => {
    const elsewhere = await mkdtemp("/dev/shm/rootstock-sha256-");
    try {
      await mkdir(join(storeDir, "sources"), { recursive: true });
      await symlink(elsewhere, join(storeDir, "sources", "sha256"));
      const body = testBytes(10_000, 26);
      const source = serve("/files/apart.tar.gz", { body });
      const mirror = join(work, "mirror");
      await mkdir(mirror);
      await writeFile(join(mirror, "apart.tar.gz"), body);
      const crossDevice = {
        code: "ERR_STORE_CROSS_DEVICE",
        message: /sources\/tmp\/apart\.tar\.gz\.\S+ and \S+ are on different file systems/,
        hint: new RegExp(
          `sources/sha256/\\) must share its file system: ${join(storeDir, "sources", "sha256")} is on another .*link the whole sources/ folder`,
        ),
      };
      // No candidate can get past it: the first one's failure ends the fetch, and no mirror is blamed.
      await assert.rejects(fetchSources([{ ...source, mirrors: [mirror] }], options()), crossDevice);
      assert.equal(events.filter((event) => event.type === "fetch:start").length, 1);
      assert.ok(!events.some((event) => event.type === "fetch:attempt-failed" && /EXDEV/.test(event.reason)));
      const path = join(work, "apart.tar.gz");
      await writeFile(path, body);
      await assert.rejects(importSources([path], { storeDir }), crossDevice);
      assert.deepEqual(await readdir(elsewhere), []);
    } finally {
      await rm(elsewhere, { recursive: true, force: true });
    }
  });

  test("cancelling while a local file is copied admits nothing", async () => {
    const body = testBytes(300_000, 25);
    const path = join(work, "local.tar.gz");
    await writeFile(path, body);
    const source: SourceRequest = {
      file: "local.tar.gz",
      sha256: sha256Of(body),
      size: body.length,
      url: `file://${path}`,
      mirrors: [],
      extract: false,
      steps: ["demo"],
    };
    const controller = new AbortController();
    const emit = (event: RootstockEvent) => {
      events.push(event);
      if (event.type === "fetch:start") controller.abort();
    };
    await assert.rejects(fetchSources([source], options({ emit, signal: controller.signal })), {
      code: "ERR_FETCH_ABORTED",
    });
    assert.equal(await new SourceStore(storeDir).has(source.sha256), false);
    assert.ok(!events.some((event) => event.type === "fetch:done"));
    assert.deepEqual(await readdir(join(storeDir, "sources", "tmp")), [], "no staged copy is left");
  });
});
