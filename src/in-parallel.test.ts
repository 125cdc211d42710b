import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { inParallel } from "./in-parallel.ts";

test("at most `limit` at once, every item once", async () => {
  let running = 0;
  let most = 0;
  const seen: number[] = [];
  await inParallel([1, 2, 3, 4, 5], 2, async (item) => {
    running++;
    most = Math.max(most, running);
    await sleep(5);
    seen.push(item);
    running--;
  });
  assert.equal(most, 2);
  assert.deepEqual(seen.sort(), [1, 2, 3, 4, 5]);
});

test("a failure stops new work, lets running work finish, then is thrown", async () => {
  const finished: number[] = [];
  await assert.rejects(
    inParallel([1, 2, 3, 4], 2, async (item) => {
      if (item === 1) throw new Error("one failed");
      await sleep(10);
      finished.push(item);
    }),
    /one failed/,
  );
  assert.deepEqual(finished, [2], "the item already running finished; no new one started");
});

test("an aborted signal stops taking items", async () => {
  const controller = new AbortController();
  const seen: number[] = [];
  await inParallel(
    [1, 2, 3],
    1,
    async (item) => {
      seen.push(item);
      controller.abort();
    },
    controller.signal,
  );
  assert.deepEqual(seen, [1]);
});
