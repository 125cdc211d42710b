import assert from "node:assert/strict";
import { test } from "node:test";
import { debugfsScript } from "./build-ext4.ts";
import { pseudoDefinitions } from "./build-squashfs.ts";
import type { StagedEntry, StagedTree } from "./stage-tree.ts";

/** Entries as root stages them: every staged copy root's, except what a step chowned (kept by the copy). */
const entry = (fields: Partial<StagedEntry> & Pick<StagedEntry, "path" | "kind">): StagedEntry => ({
  mode: fields.kind === "dir" ? 0o755 : 0o644,
  diskMode: fields.mode ?? (fields.kind === "dir" ? 0o755 : 0o644),
  size: 0,
  uid: 0,
  gid: 0,
  diskUid: 0,
  diskGid: 0,
  ...fields,
});
const tree: Pick<StagedTree, "entries" | "devices"> = {
  entries: [
    entry({ path: ".", kind: "dir" }),
    entry({ path: "home/alice", kind: "dir", mode: 0o700, uid: 1000, gid: 1000 }),
    entry({ path: "bin/my tool", kind: "file", mode: 0o755, size: 3 }),
    entry({ path: "srv/helper", kind: "file", mode: 0o4750, uid: 123, gid: 456, diskUid: 123, diskGid: 456 }),
  ],
  devices: [{ path: "dev/console", type: "char", major: 5, minor: 1, mode: 0o600, uid: 0, gid: 0 }],
};
/** The same tree staged by a user (uid 1000) without root: every staged copy is theirs. */
const asUser = (entries: StagedEntry[]) => entries.map((item) => ({ ...item, diskUid: 1000, diskGid: 1000 }));

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
    "ssv kbytes_written 0",
  ]);
  const rootless = rest(debugfsScript({ entries: asUser(tree.entries), devices: [] }));
  assert.ok(!rootless.some((line) => line.startsWith('sif "/" ')), "mke2fs makes the root 0:0 itself");
  assert.ok(rootless.includes('sif "/bin/my tool" uid 0'), "a rootless build gives its files to root");
  assert.ok(!rootless.some((line) => /^sif "\/home\/alice" (uid|gid)/.test(line)), "already 1000's");
  // Quotes are doubled, backslashes plain: such names get their times fixed too.
  const odd = debugfsScript({ entries: [entry({ path: 'say "hi"\\x', kind: "file" })], devices: [] });
  assert.deepEqual(odd, [
    'sif "/say ""hi""\\x" ctime 0',
    'sif "/say ""hi""\\x" atime 0',
    "ssv kbytes_written 0",
  ]);
});

test("squashfs: -all-root unless an owner differs, then modify definitions where the copy differs; devices always", () => {
  const rootOnly = pseudoDefinitions({
    ...tree,
    entries: [tree.entries[0] as StagedEntry, tree.entries[2] as StagedEntry],
  });
  assert.equal(rootOnly.everyoneRoot, true);
  assert.deepEqual(rootOnly.lines, ["dev/console C 0 600 0 0 5 1"]);
  const mixed = pseudoDefinitions(tree);
  assert.equal(mixed.everyoneRoot, false);
  assert.deepEqual(mixed.lines, ["home/alice m 700 1000 1000", "dev/console C 0 600 0 0 5 1"]);
  const rootless = pseudoDefinitions({ ...tree, entries: asUser(tree.entries) });
  assert.ok(rootless.lines.includes('"bin/my tool" m 755 0 0'));
  assert.ok(rootless.lines.includes("srv/helper m 4750 123 456"));
  const odd = pseudoDefinitions({
    entries: [entry({ path: 'say "hi"\\x', kind: "file", uid: 5, gid: 5 })],
    devices: [],
  });
  assert.deepEqual(odd.lines, ['"say \\"hi\\"\\\\x" m 644 5 5']);
});

test("a mode a rootless build opened on the staged copy is set back by debugfs and by a modify definition", () => {
  const opened: Pick<StagedTree, "entries" | "devices"> = {
    entries: [
      entry({ path: ".", kind: "dir" }),
      entry({ path: "etc/shadow", kind: "file", mode: 0o000, diskMode: 0o400 }),
      entry({ path: "drop", kind: "dir", mode: 0o311, diskMode: 0o711 }),
      entry({ path: "etc/motd", kind: "file" }),
    ],
    devices: [],
  };
  const script = debugfsScript(opened).filter((line) => / mode /.test(line));
  assert.deepEqual(script, ['sif "/etc/shadow" mode 0100000', 'sif "/drop" mode 040311']);
  const pseudo = pseudoDefinitions(opened);
  assert.equal(pseudo.everyoneRoot, true);
  assert.deepEqual(pseudo.lines, ["etc/shadow m 0 0 0", "drop m 311 0 0"]);
});
