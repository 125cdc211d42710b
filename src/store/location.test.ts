import assert from "node:assert/strict";
import { userInfo } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { storeLocation } from "./location.ts";

test("the store follows --store, $ROOTSTOCK_STORE, $XDG_CACHE_HOME, then the home folder", () => {
  assert.equal(storeLocation("/s", { ROOTSTOCK_STORE: "/r" }), "/s");
  assert.equal(storeLocation(undefined, { ROOTSTOCK_STORE: "/r", XDG_CACHE_HOME: "/x" }), "/r");
  assert.equal(storeLocation(undefined, { XDG_CACHE_HOME: "/x" }), "/x/rootstock");
  // A relative XDG_CACHE_HOME is not one (the XDG spec says so).
  assert.match(storeLocation(undefined, { XDG_CACHE_HOME: "cache" }), /^\/.*\/\.cache\/rootstock$/);
});

test("an empty or relative $HOME does not put the store under the current folder", () => {
  const saved = process.env.HOME;
  try {
    for (const value of ["", "somewhere"]) {
      process.env.HOME = value;
      assert.equal(storeLocation(undefined, {}), join(userInfo().homedir, ".cache", "rootstock"));
    }
  } finally {
    process.env.HOME = saved;
  }
});
