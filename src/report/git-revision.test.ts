import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { gitRevision } from "./git-revision.ts";

test("reads HEAD's commit from the repository's files, as git does", async () => {
  const expected = execFileSync("git", ["rev-parse", "--short=12", "HEAD"], { cwd: import.meta.dirname })
    .toString()
    .trim();
  assert.equal(gitRevision(import.meta.dirname), expected);
  assert.equal(gitRevision("/proc"), undefined);
});

test("with `here`, only a work tree whose top is the folder counts, not one it is kept inside", () => {
  const top = execFileSync("git", ["rev-parse", "--show-toplevel"], { cwd: import.meta.dirname })
    .toString()
    .trim();
  assert.equal(gitRevision(import.meta.dirname, { here: true }), undefined);
  assert.equal(gitRevision(top, { here: true }), gitRevision(import.meta.dirname));
});
