import assert from "node:assert/strict";
import { test } from "node:test";
import { type ImageKeyInputs, imageKey, uuidFromKey } from "./image-key.ts";

const inputs: ImageKeyInputs = {
  kind: "initramfs",
  compression: "gzip",
  layers: ["a".repeat(64), `tree:${"b".repeat(64)}`],
  owners: [],
  devices: [],
  tools: { cpio: "c".repeat(64), gzip: "d".repeat(64) },
};

test("the key follows every input, and nothing else", () => {
  const key = imageKey(inputs);
  assert.match(key, /^[0-9a-f]{64}$/);
  assert.equal(
    imageKey({ ...inputs, tools: { gzip: "d".repeat(64), cpio: "c".repeat(64) } }),
    key,
    "key order does not matter",
  );
  const changes: Partial<ImageKeyInputs>[] = [
    { compression: "xz" },
    { kind: "squashfs" },
    { layers: [...inputs.layers].reverse() },
    { files: "e".repeat(64) },
    { sizeBytes: 1 << 20 },
    { label: "root" },
    { owners: [{ path: "home", uid: 1, gid: 1 }] },
    { devices: [{ path: "dev/null", type: "char", major: 1, minor: 3, mode: 0o666, uid: 0, gid: 0 }] },
    { tools: { cpio: "f".repeat(64), gzip: "d".repeat(64) } },
  ];
  const keys = new Set(changes.map((change) => imageKey({ ...inputs, ...change })));
  assert.equal(keys.size, changes.length);
  assert.ok(!keys.has(key));
});

test("UUIDs follow from the key and are well formed", () => {
  const key = imageKey(inputs);
  const uuid = uuidFromKey(key);
  assert.match(uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(uuid.slice(0, 8), key.slice(0, 8));
  assert.equal(uuidFromKey(key), uuid);
  assert.notEqual(uuidFromKey(key, 1), uuid);
});
