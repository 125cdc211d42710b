import assert from "node:assert/strict";
import { chown, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { OutputStore, outputPath } from "./output-store.ts";

let storeDir: string;
before(async () => {
  storeDir = await mkdtemp(join(tmpdir(), "rootstock-outputs-"));
});
after(async () => {
  await rm(storeDir, { recursive: true, force: true });
});

const KEY = "a".repeat(64);

async function outDir(name: string, text: string): Promise<string> {
  const dir = join(storeDir, "work", name);
  await mkdir(join(dir, "usr", "bin"), { recursive: true });
  await writeFile(join(dir, "usr", "bin", "hello"), text);
  return dir;
}

const meta = (key: string, runId: string) => ({
  key,
  plan: "p",
  step: "s",
  runId,
  buildMs: 5,
  inputs: { script: "x" },
});

test("a committed output is an entry with its tree, manifest and record", async () => {
  const store = new OutputStore(storeDir);
  assert.equal(await store.has(KEY), false);
  const committed = await store.commit(await outDir("one", "hi\n"), meta(KEY, "run-1"));
  assert.equal(committed.existed, false);
  assert.equal(committed.path, outputPath(storeDir, KEY));
  assert.equal(await readFile(join(committed.path, "usr", "bin", "hello"), "utf8"), "hi\n");
  assert.equal(await store.has(KEY), true);
  const record = await store.record(KEY);
  assert.equal(record?.runId, "run-1");
  assert.equal(record?.files, 1);
  assert.deepEqual(record?.digest, committed.record.digest);
  assert.equal((await store.manifest(KEY))?.entries.length, 3);
  assert.deepEqual(await store.keys(), [KEY]);
  assert.deepEqual(await readdir(store.tmpDir), [], "nothing is left in the staging area");
});

test("a second commit of a key keeps the first entry", async () => {
  const store = new OutputStore(storeDir);
  const second = await store.commit(await outDir("two", "other\n"), meta(KEY, "run-2"));
  assert.equal(second.existed, true);
  assert.equal(second.record.runId, "run-1");
  assert.equal(await readFile(join(second.path, "usr", "bin", "hello"), "utf8"), "hi\n");
});

test("evict takes an entry out in one step, restore puts it back", async () => {
  const store = new OutputStore(storeDir);
  const evicted = await store.evict(KEY);
  assert.ok(evicted);
  assert.equal(await store.has(KEY), false);
  await store.restore(KEY, evicted);
  assert.equal(await store.has(KEY), true);
  assert.equal(await store.evict("b".repeat(64)), undefined);
});

test("an entry whose entry.json is gone is none: gc removes it where it is, record first", async () => {
  const store = new OutputStore(storeDir);
  await store.commit(await outDir("three", "three\n"), meta("c".repeat(64), "run-3"));
  await rm(join(store.entryDir("c".repeat(64)), "entry.json"));
  assert.equal(store.hasSync("c".repeat(64)), false);
  assert.equal(await store.has("c".repeat(64)), false);
  // Nor is one whose out/ is gone (damaged by hand), though its entry.json is there.
  await store.commit(await outDir("five", "five\n"), meta("e".repeat(64), "run-5"));
  await rm(store.outputPath("e".repeat(64)), { recursive: true });
  assert.equal(store.hasSync("e".repeat(64)), false);
  assert.equal(store.hasSync("c".repeat(63) + "d"), false);
  // Committed again, it gives way to the whole entry.
  const again = await store.commit(await outDir("four", "three\n"), meta("c".repeat(64), "run-4"));
  assert.equal(again.existed, false);
  assert.equal(await store.has("c".repeat(64)), true);
  assert.equal(store.hasSync("c".repeat(64)), true);
});

test("an entry holding what a chroot step gave another owner is closed to other users: that user could change it", {
  skip: process.getuid?.() === 0 ? false : "needs root to give a file another owner",
}, async () => {
  const store = new OutputStore(storeDir);
  const plain = await store.commit(await outDir("plain", "p\n"), meta("1".repeat(64), "run-p"));
  const dir = await outDir("owned", "o\n");
  await chown(join(dir, "usr", "bin"), 65534, 65534);
  const owned = await store.commit(dir, meta("2".repeat(64), "run-o"));
  assert.notEqual((await stat(dirname(plain.path))).mode & 0o777, 0o700);
  assert.equal((await stat(dirname(owned.path))).mode & 0o777, 0o700);
});
