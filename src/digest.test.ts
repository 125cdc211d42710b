import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { canonicalJson, digestFile, digestFileSync, sha256Json, sha256Text } from "./digest.ts";

test("canonical JSON sorts keys at every depth and drops undefined members", () => {
  assert.equal(
    canonicalJson({ b: 1, a: { d: [3, { z: null, y: "x" }], c: undefined }, é: true, A: false }),
    '{"A":false,"a":{"d":[3,{"y":"x","z":null}]},"b":1,"é":true}',
  );
  assert.equal(canonicalJson([undefined, "s", 1.5]), '[null,"s",1.5]');
  assert.equal(canonicalJson(`quote"d`), JSON.stringify(`quote"d`));
});

test("equal values hash alike whatever their key order", () => {
  assert.equal(sha256Json({ a: 1, b: [1, 2] }), sha256Json({ b: [1, 2], a: 1 }));
  assert.equal(sha256Json({ a: 1 }), sha256Text('{"a":1}'));
});

test("a file hashes alike read whole, in chunks, or streamed", async () => {
  const dir = await mkdtemp(join(tmpdir(), "rootstock-digest-"));
  try {
    // Empty, small, and larger than the 1 MiB read by the synchronous digest at once.
    for (const size of [0, 5, 3 * (1 << 20) + 7]) {
      const content = Buffer.alloc(size, "ab");
      const path = join(dir, `file-${size}`);
      await writeFile(path, content);
      const expected = { sha256: sha256Text(content), size };
      assert.deepEqual(digestFileSync(path), expected);
      assert.deepEqual(await digestFile(path), expected);
    }
    assert.throws(() => digestFileSync(join(dir, "missing")), { code: "ENOENT" });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
