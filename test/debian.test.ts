/**
 * The Debian provider against the host's real apt: GNU hello 2.10's orig tarball, which is
 * byte-identical to the upstream release. Needs apt with deb-src and the network apt is configured
 * for; skipped (saying why) on a host without apt-get.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { sha256Text } from "../src/digest.ts";
import { RootstockErrors } from "../src/errors.ts";
import type { RootstockEvent } from "../src/events.ts";
import { fetchSources, type SourceRequest } from "../src/sources/fetch-sources.ts";
import { SourceStore } from "../src/sources/source-store.ts";

const HELLO_SHA256 = "31e066137a962676e89f69d1b65382de95a7ef7d914b8cb956f41ea72e0f516b";
const hello: SourceRequest = {
  file: "hello-2.10.tar.gz",
  sha256: HELLO_SHA256,
  size: 725946,
  mirrors: [],
  extract: true,
  debian: { package: "hello", version: "2.10-3", file: "hello_2.10.orig.tar.gz" },
  steps: ["hello"],
};

const hasApt = (() => {
  try {
    execFileSync("apt-get", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), "rootstock-debian-"));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

async function failureOf(promise: Promise<unknown>): Promise<RootstockErrors> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof RootstockErrors, String(error));
    return error;
  }
  assert.fail("expected the fetch to fail");
}

describe("the Debian provider", { skip: hasApt ? false : "apt-get is not installed" }, () => {
  test("fetches hello_2.10.orig.tar.gz with apt-get source and admits it by its pinned hash", async () => {
    const storeDir = join(work, "store-exact");
    const events: RootstockEvent[] = [];
    const result = await fetchSources([hello], { storeDir, emit: (event) => events.push(event) });
    assert.equal(result.fetched[0]?.from, "debian:hello=2.10-3/hello_2.10.orig.tar.gz");
    const store = new SourceStore(storeDir);
    const bytes = await readFile(store.path(HELLO_SHA256));
    assert.equal(bytes.length, 725946);
    assert.equal(sha256Text(bytes), HELLO_SHA256);
    assert.deepEqual(await readdir(store.tmpDir), [], "the scratch folder is gone");
  });

  test("a version removed by a revision bump falls back to one carrying the same file", async () => {
    const storeDir = join(work, "store-bumped");
    const events: RootstockEvent[] = [];
    const bumped = {
      ...hello,
      debian: { ...(hello.debian as NonNullable<SourceRequest["debian"]>), version: "2.10-1" },
    };
    await fetchSources([bumped], { storeDir, emit: (event) => events.push(event) });
    const substitute = events.find((event) => event.type === "fetch:substitute");
    assert.ok(substitute && substitute.type === "fetch:substitute");
    assert.equal(substitute.pinned, "2.10-1");
    assert.match(substitute.used, /^2\.10-/);
    assert.ok(await new SourceStore(storeDir).has(HELLO_SHA256));
  });

  test("when no version carries the pinned hash, the error names the newest version and its file", async () => {
    const wrong = { ...hello, sha256: "0".repeat(64) };
    const error = await failureOf(fetchSources([wrong], { storeDir: join(work, "store-none") }));
    const message = error.errors[0]?.message ?? "";
    assert.match(
      message,
      /no version in apt's index carries a file with sha256 0{64}; the newest is \S+ with hello_[\w.]+\.orig\.tar\.gz \(sha256 [0-9a-f]{64}, \d+ bytes\)/,
    );
    assert.match(message, /ERR_DEBIAN_NO_VERSION/);
    assert.match(error.errors[0]?.hint ?? "", /debian = \{ package = "hello", version = "/);
  });

  test("without deb-src entries, the error says so and how to enable them", async () => {
    // An apt configuration whose only entry is `Types: deb`, derived from the host's own.
    const aptDir = join(work, "apt-no-src");
    await mkdir(join(aptDir, "sources.list.d"), { recursive: true });
    await writeFile(join(aptDir, "sources.list"), "");
    await writeFile(
      join(aptDir, "sources.list.d", "only-binaries.sources"),
      "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\nComponents: main\n",
    );
    const aptConfig = join(aptDir, "apt.conf");
    await writeFile(
      aptConfig,
      `Dir::Etc::SourceList "${join(aptDir, "sources.list")}";\nDir::Etc::SourceParts "${join(aptDir, "sources.list.d")}";\n`,
    );
    const error = await failureOf(fetchSources([hello], { storeDir: join(work, "store-no-src"), aptConfig }));
    assert.match(
      error.errors[0]?.message ?? "",
      /the host's apt has no deb-src entries \[ERR_DEBIAN_NO_DEB_SRC\]/,
    );
    assert.match(error.errors[0]?.hint ?? "", /rootstock doctor --install/);
  });
});
