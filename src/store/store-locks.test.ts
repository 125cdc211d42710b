import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { StoreLocks } from "./store-locks.ts";

let storeDir: string;
before(async () => {
  storeDir = await mkdtemp(join(tmpdir(), "rootstock-locks-"));
});
after(async () => {
  await rm(storeDir, { recursive: true, force: true });
});

const holder = { runId: "run-a", pid: process.pid, what: "musl" };

test("a lock is exclusive, names its holder, and is free again after release", async () => {
  const locks = new StoreLocks(storeDir);
  const first = await locks.tryAcquire("key-1", holder);
  assert.ok(first);
  assert.equal(await locks.tryAcquire("key-1", { ...holder, runId: "run-b" }), undefined);
  assert.deepEqual(await locks.probe("key-1"), holder);
  // Another key is independent.
  const other = await locks.tryAcquire("key-2", holder);
  assert.ok(other);
  await other.release();
  await first.release();
  assert.equal(await locks.probe("key-1"), undefined);
  const again = await locks.tryAcquire("key-1", holder);
  assert.ok(again);
  await again.release();
});

test("stores at different paths do not share locks", async () => {
  const a = await new StoreLocks(storeDir).tryAcquire("key", holder);
  const b = await new StoreLocks(join(storeDir, "elsewhere")).tryAcquire("key", holder);
  assert.ok(a && b);
  await a.release();
  await b.release();
});

/** Why a test that bind-mounts in a private mount namespace cannot run here, or undefined when it can. */
function noPrivateMounts(): string | undefined {
  if (process.getuid?.() !== 0) return "a bind mount needs root";
  const probe = spawnSync("unshare", ["-m", "--propagation", "private", "true"]);
  return probe.status === 0 ? undefined : "unshare -m is refused here";
}

test("every path to one store shares its locks (a bind mount)", { skip: noPrivateMounts() }, async () => {
  const store = join(storeDir, "bound");
  const other = join(storeDir, "mountpoint");
  await mkdir(store);
  await mkdir(other);
  const script = `
    import { StoreLocks } from ${JSON.stringify(new URL("./store-locks.ts", import.meta.url).href)};
    const held = await new StoreLocks(${JSON.stringify(other)}).tryAcquire("key-b", { runId: "bound", pid: process.pid, what: "x" });
    process.stdout.write(held ? "held\\n" : "busy\\n");
    setInterval(() => {}, 1000);
  `;
  // Its own mount namespace: the bind mount is gone with it. Abstract sockets belong to the network
  // namespace, which it shares with this process.
  const child = spawn(
    "unshare",
    [
      "-m",
      "--propagation",
      "private",
      "sh",
      "-c",
      'mount --bind "$1" "$2" && exec "$3" --input-type=module -e "$4"',
      "sh",
      store,
      other,
      process.execPath,
      script,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  try {
    const [line] = (await once(child.stdout, "data")) as [Buffer];
    assert.equal(line.toString().trim(), "held");
    const locks = new StoreLocks(store);
    assert.equal(
      await locks.tryAcquire("key-b", holder),
      undefined,
      "the lock taken through the bind mount is held",
    );
    assert.equal((await locks.probe("key-b"))?.runId, "bound");
  } finally {
    child.kill("SIGKILL");
  }
});

test("a waiter wakes when the holder releases", async () => {
  const locks = new StoreLocks(storeDir);
  const held = await locks.tryAcquire("key-w", holder);
  assert.ok(held);
  let woke = false;
  const waiting = locks.waitFree("key-w").then((who) => {
    woke = true;
    return who;
  });
  // The waiter is connected and has learnt who holds the lock, but must not wake before the release.
  assert.deepEqual(await locks.probe("key-w"), holder);
  assert.equal(woke, false);
  await held.release();
  assert.deepEqual(await waiting, holder);
});

/** A lock taken by another process, which holds it until it is killed. */
async function holdInChild(key: string) {
  const script = `
    import { StoreLocks } from ${JSON.stringify(new URL("./store-locks.ts", import.meta.url).href)};
    const held = await new StoreLocks(${JSON.stringify(storeDir)}).tryAcquire(${JSON.stringify(key)}, { runId: "child", pid: process.pid, what: "x" });
    process.stdout.write(held ? "held\\n" : "busy\\n");
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const [line] = (await once(child.stdout, "data")) as [Buffer];
  assert.equal(line.toString().trim(), "held");
  return child;
}

test("a lock held by a process killed with SIGKILL is free at once", async () => {
  const child = await holdInChild("key-k");
  try {
    const locks = new StoreLocks(storeDir);
    assert.equal(await locks.tryAcquire("key-k", holder), undefined);
    assert.equal((await locks.probe("key-k"))?.runId, "child");
    const waiting = locks.waitFree("key-k");
    child.kill("SIGKILL");
    await waiting;
    const mine = await locks.tryAcquire("key-k", holder);
    assert.ok(mine, "the dead holder's lock is taken over without any timeout");
    await mine.release();
  } finally {
    child.kill("SIGKILL");
  }
});

test("a holder that is stopped (Ctrl-Z) is said to be silent, and waiting for it can still be aborted", async () => {
  const child = await holdInChild("key-s");
  try {
    child.kill("SIGSTOP");
    const locks = new StoreLocks(storeDir);
    assert.equal(await locks.tryAcquire("key-s", holder), undefined);
    assert.equal((await locks.probe("key-s"))?.silent, true);
    const controller = new AbortController();
    const probing = locks.probe("key-s", controller.signal);
    controller.abort(new Error("interrupted"));
    await assert.rejects(probing, /interrupted/);
  } finally {
    child.kill("SIGKILL");
  }
});

test("waiting can be aborted", async () => {
  const locks = new StoreLocks(storeDir);
  const held = await locks.tryAcquire("key-a", holder);
  assert.ok(held);
  const controller = new AbortController();
  const waiting = locks.waitFree("key-a", controller.signal);
  controller.abort(new Error("stop"));
  await assert.rejects(waiting, /stop/);
  await held.release();
});

test("an address names the store by a short hash and the lock as it is, hashing only a name too long", async () => {
  const locks = new StoreLocks(storeDir);
  const key = `key:${"a".repeat(64)}`;
  const address = locks.address(key);
  assert.match(address, /^\0rootstock\/[0-9a-f]{16}\/key:a{64}$/);
  assert.equal(new StoreLocks(storeDir).address(key), address);
  assert.notEqual(new StoreLocks(join(storeDir, "elsewhere")).address(key), address);
  const long = locks.address(`image:${"b".repeat(200)}`);
  assert.ok(Buffer.byteLength(long) < 108);
  assert.match(long, /^\0rootstock\/[0-9a-f]{64}$/);
  const lock = await locks.tryAcquire(`image:${"b".repeat(200)}`, holder);
  assert.ok(lock);
  await lock.release();
});
