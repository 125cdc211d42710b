import assert from "node:assert/strict";
import { test } from "node:test";
import { suggest } from "./suggest.ts";

test("suggests close names, including swapped letters, and nothing far", () => {
  assert.equal(suggest("bwarp", ["host", "bwrap", "chroot"]), "bwrap");
  assert.equal(suggest("vesion", ["version", "deps"]), "version");
  assert.equal(suggest("nmae", ["name", "arch"]), "name");
  assert.equal(suggest("docker", ["host", "bwrap", "chroot"]), undefined);
});
