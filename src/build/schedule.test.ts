import assert from "node:assert/strict";
import { test } from "node:test";
import { criticalPaths, type ScheduleNode, schedule, type TaskResult } from "./schedule.ts";

const node = (name: string, deps: string[] = [], estimateMs = 1): ScheduleNode => ({
  name,
  deps,
  estimateMs,
});

/** A task runner whose tasks finish only when the test says so, recording what started when. */
function controlled() {
  const started: string[] = [];
  const pending = new Map<string, (result: TaskResult) => void>();
  const slots = new Map<string, number>();
  let onStart: (() => void) | undefined;
  const run = (name: string, { slot }: { slot: number }) =>
    new Promise<TaskResult>((resolve) => {
      started.push(name);
      slots.set(name, slot);
      pending.set(name, resolve);
      onStart?.();
    });
  const settle = (name: string, result: TaskResult) => {
    const resolve = pending.get(name);
    assert.ok(resolve, `${name} is not running`);
    pending.delete(name);
    resolve(result);
  };
  /** Waits until `count` tasks have started in all. */
  const untilStarted = (count: number) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (started.length >= count) {
          onStart = undefined;
          resolve();
        }
      };
      onStart = check;
      check();
    });
  return { run, settle, started, slots, running: () => [...pending.keys()].sort(), untilStarted };
}

test("critical path: a node's own estimate plus its longest chain of dependents", () => {
  const paths = criticalPaths([
    node("a", [], 1),
    node("b", ["a"], 10),
    node("c", ["a"], 2),
    node("d", ["c"], 3),
  ]);
  assert.deepEqual(Object.fromEntries(paths), { a: 11, b: 10, c: 5, d: 3 });
});

test("runs at most `jobs` tasks at once, longest critical path first, deps before dependents", async () => {
  const tasks = controlled();
  const nodes = [
    node("short", [], 1),
    node("long", [], 50),
    node("middle", [], 10),
    node("after-long", ["long"], 5),
  ];
  const done = schedule(nodes, tasks.run, { jobs: 2 });
  await tasks.untilStarted(2);
  assert.deepEqual(tasks.running(), ["long", "middle"]);
  assert.deepEqual([...tasks.slots.values()].sort(), [0, 1]);
  tasks.settle("long", "done");
  await tasks.untilStarted(3);
  assert.deepEqual(tasks.running(), ["after-long", "middle"], "after-long (5) goes before short (1)");
  tasks.settle("middle", "done");
  await tasks.untilStarted(4);
  tasks.settle("after-long", "done");
  tasks.settle("short", "done");
  const result = await done;
  assert.deepEqual(result.done.sort(), ["after-long", "long", "middle", "short"]);
  assert.deepEqual(result.failed, []);
  assert.deepEqual(result.skipped, []);
});

test("the ready tasks that wait for a slot are told, first to start first", async () => {
  const tasks = controlled();
  const nodes = [node("a", [], 5), node("b", [], 4), node("c", [], 3), node("d", ["a"], 1)];
  const told: string[][] = [];
  const done = schedule(nodes, tasks.run, { jobs: 1, onWaiting: (waiting) => told.push([...waiting]) });
  await tasks.untilStarted(1);
  assert.deepEqual(told, [["b", "c"]]);
  tasks.settle("a", "done");
  await tasks.untilStarted(2);
  // d (1 + nothing after it) is now ready too, and waits behind b (4) and c (3).
  assert.deepEqual(told.at(-1), ["c", "d"]);
  tasks.settle("b", "done");
  await tasks.untilStarted(3);
  tasks.settle("c", "done");
  await tasks.untilStarted(4);
  const count = told.length;
  tasks.settle("d", "done");
  await done;
  assert.equal(told.length, count, "nothing waits once the last task has started");
});

test("without keep-going, a failure starts nothing new; running tasks finish", async () => {
  const tasks = controlled();
  const nodes = [node("a", [], 5), node("b", [], 4), node("c", [], 1), node("d", ["a"])];
  const done = schedule(nodes, tasks.run, { jobs: 2 });
  await tasks.untilStarted(2);
  tasks.settle("a", "failed");
  tasks.settle("b", "done");
  const result = await done;
  assert.deepEqual(tasks.started.sort(), ["a", "b"]);
  assert.deepEqual(result.failed, ["a"]);
  assert.deepEqual(result.done, ["b"]);
  assert.deepEqual(result.skipped.map((skip) => skip.name).sort(), ["c", "d"]);
  assert.match(result.skipped.find((skip) => skip.name === "d")?.because ?? "", /depends on a/);
  assert.match(result.skipped.find((skip) => skip.name === "c")?.because ?? "", /--keep-going/);
});

test("with keep-going, everything not downstream of a failure runs", async () => {
  const tasks = controlled();
  const nodes = [node("a"), node("b", ["a"]), node("c", ["b"]), node("x"), node("y", ["x"])];
  const done = schedule(nodes, tasks.run, { jobs: 1, keepGoing: true });
  await tasks.untilStarted(1);
  tasks.settle("a", "failed");
  await tasks.untilStarted(2);
  tasks.settle("x", "done");
  await tasks.untilStarted(3);
  tasks.settle("y", "done");
  const result = await done;
  assert.deepEqual(result.failed, ["a"]);
  assert.deepEqual(result.done, ["x", "y"]);
  assert.deepEqual(
    result.skipped.map((skip) => skip.name),
    ["b", "c"],
  );
});

test("a task busy elsewhere gives back its slot and is offered again later", async () => {
  const tasks = controlled();
  let release: () => void = () => {};
  const elsewhere = new Promise<void>((resolve) => {
    release = resolve;
  });
  const done = schedule([node("locked", [], 9), node("free", [], 1)], tasks.run, { jobs: 1 });
  await tasks.untilStarted(1);
  assert.deepEqual(tasks.running(), ["locked"]);
  tasks.settle("locked", { retryAfter: elsewhere });
  await tasks.untilStarted(2);
  assert.deepEqual(tasks.running(), ["free"], "the slot went to the other task");
  tasks.settle("free", "done");
  release();
  await tasks.untilStarted(3);
  tasks.settle("locked", "done");
  const result = await done;
  assert.deepEqual(result.done, ["free", "locked"]);
});

test("an abort starts nothing new and reports the rest as interrupted", async () => {
  const tasks = controlled();
  const controller = new AbortController();
  const done = schedule([node("a"), node("b", ["a"])], tasks.run, { jobs: 1, signal: controller.signal });
  await tasks.untilStarted(1);
  controller.abort();
  tasks.settle("a", "failed");
  const result = await done;
  assert.deepEqual(result.failed, ["a"]);
  assert.equal(result.skipped.length, 1);
});
