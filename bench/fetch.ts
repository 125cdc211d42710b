/**
 * How fast fetch moves bytes: a file served from memory by a server on 127.0.0.1, downloaded into a
 * fresh store (download, hash, admit), then resumed after a cut halfway. Prints figures; asserts nothing.
 * Run: node bench/fetch.ts [MiB]
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { digestFile } from "../src/digest.ts";
import { fetchSources } from "../src/sources/fetch-sources.ts";
import { SourceStore } from "../src/sources/source-store.ts";
import { sha256Of, startServer, testBytes } from "../test/helpers/http-server.ts";

const mib = Number(process.argv[2] ?? 256);
const body = testBytes(mib << 20, 42);
const sha256 = sha256Of(body);
const server = await startServer();
const work = await mkdtemp(join(tmpdir(), "rootstock-bench-fetch-"));
const rate = (ms: number) => `${((mib / ms) * 1000).toFixed(0)} MiB/s`;
try {
  const source = {
    file: "big.tar",
    sha256,
    size: body.length,
    url: `${server.url}/big.tar`,
    mirrors: [],
    extract: false,
  };

  server.routes.set("/big.tar", { body, etag: '"b"' });
  let started = performance.now();
  await fetchSources([source], { storeDir: join(work, "a"), proxyEnv: {} });
  const cold = performance.now() - started;
  console.log(`download + hash + admit, ${mib} MiB: ${cold.toFixed(0)} ms (${rate(cold)})`);

  started = performance.now();
  await digestFile(new SourceStore(join(work, "a")).path(sha256));
  const hash = performance.now() - started;
  console.log(`sha256 of the stored file alone: ${hash.toFixed(0)} ms (${rate(hash)})`);

  server.reset();
  server.routes.set("/big.tar", { body, etag: '"b"', cutAfter: body.length >> 1 });
  started = performance.now();
  await fetchSources([source], { storeDir: join(work, "b"), proxyEnv: {} });
  const resumed = performance.now() - started;
  const sent = server.requests.reduce((sum, request) => sum + request.sent, 0);
  console.log(
    `cut at half, resumed in the same fetch: ${resumed.toFixed(0)} ms; ${server.requests.length} requests, server sent ${(sent / body.length).toFixed(3)}× the file`,
  );

  started = performance.now();
  await fetchSources([source], { storeDir: join(work, "b"), proxyEnv: {} });
  console.log(`already present (no request): ${(performance.now() - started).toFixed(1)} ms`);
} finally {
  await server.close();
  await rm(work, { recursive: true, force: true });
}
