import assert from "node:assert/strict";
import { test } from "node:test";
import { capture } from "../../test/helpers/captured-output.ts";
import type { RootstockEvent } from "../events.ts";
import { createFetchReporter } from "./fetch-reporter.ts";

/** What the reporter prints for these events of one file, given its sha256 and name. */
function reported(sha256: string, file: string, events: Record<string, unknown>[]): string {
  const { context, text } = capture();
  const reporter = createFetchReporter(context);
  for (const event of events) reporter.emit({ sha256, file, ...event } as RootstockEvent);
  reporter.finish();
  return text();
}

test("a mirror folder without the file is no failure; a Debian substitute is named where the file came from", () => {
  const sha256 = "a".repeat(64);
  const file = "hello_2.10.orig.tar.gz";
  const text = reported(sha256, file, [
    {
      type: "fetch:attempt-failed",
      from: "/srv/mirror",
      reason: `/srv/mirror/sha256/${sha256}: no such file`,
      missing: true,
    },
    { type: "fetch:substitute", package: "hello", pinned: "2.10-1", used: "2.10-3" },
    { type: "fetch:done", from: `debian:hello=2.10-1/${file}`, bytes: 725946, ms: 300 },
  ]);
  assert.doesNotMatch(text, /fail/);
  assert.match(
    text,
    /note hello_2\.10\.orig\.tar\.gz: Debian hello 2\.10-1 is gone; 2\.10-3 carries the same file/,
  );
  assert.match(
    text,
    /ok {3}hello_2\.10\.orig\.tar\.gz .* from debian:hello=2\.10-3\/hello_2\.10\.orig\.tar\.gz \(pinned: debian:hello=2\.10-1\//,
  );
});

test("a Debian pin whose file name is wrong gets a note with apt's name, and the file says where it came from", () => {
  const file = "tcc_wrong.orig.tar.bz2";
  const text = reported("b".repeat(64), file, [
    {
      type: "fetch:substitute",
      package: "tcc",
      pinned: "0.9.27-1",
      used: "0.9.27-1",
      pinnedFile: file,
      usedFile: "tcc_0.9.27.orig.tar.bz2",
    },
    { type: "fetch:done", from: `debian:tcc=0.9.27-1/${file}`, bytes: 1000, ms: 10 },
  ]);
  assert.doesNotMatch(text, /is gone/);
  assert.match(
    text,
    /note tcc_wrong\.orig\.tar\.bz2: Debian tcc 0\.9\.27-1 has no file tcc_wrong\.orig\.tar\.bz2; its tcc_0\.9\.27\.orig\.tar\.bz2 has the pinned sha256 \(set file = "tcc_0\.9\.27\.orig\.tar\.bz2" in the pin\)/,
  );
  assert.match(
    text,
    /from debian:tcc=0\.9\.27-1\/tcc_0\.9\.27\.orig\.tar\.bz2 \(pinned: debian:tcc=0\.9\.27-1\/tcc_wrong/,
  );
});

test("a place that failed before another had the file is 'tried', not a failure", () => {
  const text = reported("c".repeat(64), "musl-1.2.3.tar.gz", [
    {
      type: "fetch:attempt-failed",
      from: "https://musl.libc.org",
      reason: "https://musl.libc.org/releases/musl-1.2.3.tar.gz: host not found",
    },
    { type: "fetch:done", from: "debian:musl=1.2.3-1/x", bytes: 1000, ms: 10 },
  ]);
  assert.match(
    text,
    /tried musl-1\.2\.3\.tar\.gz: https:\/\/musl\.libc\.org\/releases\/musl-1\.2\.3\.tar\.gz: host not found/,
  );
  assert.doesNotMatch(text, /fail/);
});

test("the size to fetch says when only some pins give one", () => {
  const plan = (event: Record<string, unknown>) =>
    reported("", "", [{ type: "fetch:plan", present: 0, ...event }]).split("\n")[0];
  assert.equal(
    plan({ missing: 3, bytes: 11 << 20, unsized: 0 }),
    "fetch: 3 to fetch (11 MiB pinned), 0 present",
  );
  assert.equal(
    plan({ missing: 3, bytes: 11 << 20, unsized: 2 }),
    "fetch: 3 to fetch (11 MiB pinned for 1 of them; the others pin no size), 0 present",
  );
  assert.equal(plan({ missing: 3, bytes: 0, unsized: 3 }), "fetch: 3 to fetch, 0 present");
});
