import assert from "node:assert/strict";
import { test } from "node:test";
import { debugfsScript } from "./build-ext4.ts";
import { pseudoDefinitions } from "./build-squashfs.ts";
import type { StagedTree } from "./stage-tree.ts";

const tree: Pick<StagedTree, "entries" | "devices" | "diskUid" | "diskGid"> = {
  entries: [
    { path: ".", kind: "dir", mode: 0o755, size: 0, uid: 0, gid: 0 },
    { path: "home/alice", kind: "dir", mode: 0o700, size: 0, uid: 1000, gid: 1000 },
    { path: "bin/my tool", kind: "file", mode: 0o755, size: 3, uid: 0, gid: 0 },
  ],
  devices: [{ path: "dev/console", type: "char", major: 5, minor: 1, mode: 0o600, uid: 0, gid: 0 }],
  diskUid: 0,
  diskGid: 0,
};

test("debugfs fixes only what mke2fs copied differently, and makes device nodes in their folder", () => {
  const times = (lines: string[]) => lines.filter((line) => / (ctime|atime) 0$/.test(line));
  const rest = (lines: string[]) => lines.filter((line) => !/ (ctime|atime) 0$/.test(line));
  // mke2fs -d copies the staged files' ctime and atime, which are "now": every entry gets them fixed.
  assert.equal(times(debugfsScript(tree)).length, tree.entries.length * 2);
  assert.ok(times(debugfsScript(tree)).includes('sif "/" ctime 0'));
  assert.deepEqual(rest(debugfsScript(tree)), [
    'sif "/home/alice" uid 1000',
    'sif "/home/alice" gid 1000',
    'cd "/dev"',
    'mknod "console" c 5 1',
    'sif "console" mode 020600',
    'sif "console" uid 0',
    'sif "console" gid 0',
    'sif "console" ctime @0',
    'sif "console" atime @0',
    'sif "console" mtime @0',
    "cd /",
  ]);
  const asUser = rest(debugfsScript({ ...tree, devices: [], diskUid: 1000, diskGid: 1000 }));
  assert.ok(asUser.includes('sif "/" uid 0'), "a rootless build gives everything back to root");
  assert.ok(asUser.includes('sif "/bin/my tool" gid 0'));
  assert.ok(
    !asUser.some((line) => /^sif "\/home\/alice" (uid|gid)/.test(line)),
    "alice's folder is already 1000's",
  );
  assert.throws(() =>
    debugfsScript({ ...tree, diskUid: 1, entries: [{ ...tree.entries[2], path: 'a"b' } as never] }),
  );
});

test("squashfs: -all-root unless an owner differs, then modify definitions; devices always", () => {
  const rootOnly = pseudoDefinitions({
    ...tree,
    entries: [tree.entries[0] as never, tree.entries[2] as never],
  });
  assert.equal(rootOnly.everyoneRoot, true);
  assert.deepEqual(rootOnly.lines, ["dev/console C 0 600 0 0 5 1"]);
  const mixed = pseudoDefinitions(tree);
  assert.equal(mixed.everyoneRoot, false);
  assert.deepEqual(mixed.lines, ["home/alice m 700 1000 1000", "dev/console C 0 600 0 0 5 1"]);
  const asUser = pseudoDefinitions({ ...tree, diskUid: 1234, diskGid: 1234 });
  assert.ok(asUser.lines.includes('"bin/my tool" m 755 0 0'));
});
