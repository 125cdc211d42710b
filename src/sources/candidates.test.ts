import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Source } from "../plan/types.ts";
import { candidatesFor, usesNetwork } from "./candidates.ts";
import { parseMirror } from "./mirror.ts";

const SHA = "a".repeat(64);
const source: Source = {
  file: "pkg-1.0.tar.gz",
  sha256: SHA,
  url: "https://upstream.example/pkg-1.0.tar.gz",
  mirrors: ["/srv/own-mirror", "https://own.example/m"],
  extract: true,
  debian: { package: "pkg", version: "1.0-1", file: "pkg_1.0.orig.tar.gz" },
};

describe("candidatesFor", () => {
  test("global mirrors, then the source's mirrors, then its url, then Debian; by hash before by name", () => {
    const candidates = candidatesFor(
      [source],
      [parseMirror("file:///media/usb/mirror"), parseMirror("http://lan.example/m/")],
    );
    assert.deepEqual(
      candidates.map((candidate) => candidate.from),
      [
        `/media/usb/mirror/sha256/${SHA}`,
        "/media/usb/mirror/pkg-1.0.tar.gz",
        `http://lan.example/m/sha256/${SHA}`,
        "http://lan.example/m/pkg-1.0.tar.gz",
        `/srv/own-mirror/sha256/${SHA}`,
        "/srv/own-mirror/pkg-1.0.tar.gz",
        `https://own.example/m/sha256/${SHA}`,
        "https://own.example/m/pkg-1.0.tar.gz",
        "https://upstream.example/pkg-1.0.tar.gz",
        "debian:pkg=1.0-1/pkg_1.0.orig.tar.gz",
      ],
    );
    assert.deepEqual(
      candidates.filter((candidate) => !usesNetwork(candidate)).map((candidate) => candidate.kind),
      ["file", "file", "file", "file"],
    );
  });

  test("an ftp url is a failed attempt, not a crash", () => {
    const { debian: _debian, ...plain } = source;
    const [candidate] = candidatesFor([{ ...plain, mirrors: [], url: "ftp://old.example/pkg.tar.gz" }], []);
    assert.equal(candidate?.kind, "unsupported");
  });
});

describe("mirrors", () => {
  test("file names are URL-encoded on URL mirrors", () => {
    const [, byName] = candidatesFor(
      [{ ...source, file: "a b#c.tar.gz", mirrors: [] }],
      [parseMirror("http://m.example")],
    );
    assert.equal(byName?.from, "http://m.example/a%20b%23c.tar.gz");
  });

  test("a mirror that is neither a URL nor a folder is refused", () => {
    assert.throws(() => parseMirror("ftp://x.example/m"), { code: "ERR_MIRROR_BAD_SPEC" });
    // Looks like one, but Node cannot parse it: refused here, not a crash when fetching.
    assert.throws(() => parseMirror("http://[::1"), {
      code: "ERR_MIRROR_BAD_SPEC",
      message: /not a valid URL/,
    });
    assert.throws(() => parseMirror("file:///a%2Fb"), { code: "ERR_MIRROR_BAD_SPEC" });
  });
});
