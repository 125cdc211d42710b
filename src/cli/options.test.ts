import assert from "node:assert/strict";
import { test } from "node:test";
import { globalMirrors, parseCount, parseJobs } from "./options.ts";

test("--mirror flags come before $ROOTSTOCK_MIRRORS; relative folders are made absolute", () => {
  assert.deepEqual(
    globalMirrors(["here"], { ROOTSTOCK_MIRRORS: "http://a.example/m  /srv/b" }, "/home/user"),
    ["/home/user/here", "http://a.example/m", "/srv/b"],
  );
  assert.deepEqual(globalMirrors([], {}, "/home/user"), []);
  // An empty one would quietly be the current folder.
  assert.throws(() => globalMirrors([""], {}, "/home/user"), {
    code: "ERR_MIRROR_BAD_SPEC",
    message: /empty/,
  });
  // Split at spaces, "/media/USB stick/mirror" would be "/media/USB" and a relative "stick/mirror".
  assert.throws(() => globalMirrors([], { ROOTSTOCK_MIRRORS: "/media/USB stick/mirror" }, "/home/user"), {
    code: "ERR_MIRROR_BAD_SPEC",
    message: /\$ROOTSTOCK_MIRRORS holds "stick\/mirror", which is neither an absolute path nor a URL/,
  });
  assert.deepEqual(globalMirrors([], { ROOTSTOCK_MIRRORS: "file:///media/USB%20stick/mirror" }), [
    "file:///media/USB%20stick/mirror",
  ]);
});

test("a count is a whole number from 1 to 64; anything else is refused with the flag named", () => {
  assert.equal(parseCount("--machines", "3"), 3);
  assert.equal(parseCount("--machines", undefined), undefined);
  assert.equal(parseJobs(undefined, 2), 2);
  assert.equal(parseJobs("64", 2), 64);
  for (const bad of ["0", "65", "1.5", "two", "", "-1"]) {
    assert.throws(
      () => parseCount("--jobs", bad),
      (error: Error & { code?: string; hint?: string }) => {
        assert.equal(error.code, "ERR_CLI_BAD_JOBS");
        assert.match(error.message, /^--jobs ".*": expected a whole number from 1 to 64$/);
        assert.equal(error.hint, "for example --jobs 2");
        return true;
      },
    );
  }
});
