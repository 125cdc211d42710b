/**
 * Test modules run in rootstock's own process, so a promise a test forgot to await, rejected later,
 * would end the whole process (Node's default for an unhandled rejection) and leave the run
 * unrecorded. While tests run, such a rejection is caught instead and charged to a module: the one
 * whose machine it names (a machine's errors begin with its name), else every module then running.
 */
/** Rejections caught as strays: a failure they cause says it came from a call no test awaited. */
const strays = new WeakSet<object>();

export function isStray(reason: unknown): boolean {
  return typeof reason === "object" && reason !== null && strays.has(reason);
}

export class StrayRejections {
  readonly #queues = new Map<string, { pending: unknown[]; wake?: (error: unknown) => void }>();
  readonly #listener = (reason: unknown) => this.#charge(reason);

  constructor() {
    process.on("unhandledRejection", this.#listener);
  }

  /** Stops catching them: outside a test run, an unhandled rejection is a bug of rootstock's. */
  close(): void {
    process.off("unhandledRejection", this.#listener);
  }

  /** Follows the module whose machine is named `machine` while its tests run. */
  follow(machine: string): void {
    this.#queues.set(machine, { pending: [] });
  }

  unfollow(machine: string): unknown[] {
    const left = this.#queues.get(machine)?.pending ?? [];
    this.#queues.delete(machine);
    return left;
  }

  /**
   * A promise that rejects with the next stray rejection charged to the module (at once if one is
   * waiting), for one test; `done` when that test has ended, so that a later one waits for the next test.
   */
  next(machine: string): { rejected: Promise<never>; done: () => void } {
    const queue = this.#queues.get(machine);
    let wake: ((error: unknown) => void) | undefined;
    const rejected = new Promise<never>((_, reject) => {
      if (!queue) return;
      if (queue.pending.length > 0) return reject(queue.pending.shift());
      wake = (error) => {
        queue.wake = undefined;
        reject(error);
      };
      queue.wake = wake;
    });
    return {
      rejected,
      done: () => {
        if (queue && queue.wake === wake) queue.wake = undefined;
      },
    };
  }

  #charge(reason: unknown): void {
    // With no module's tests running, it is no test's: a bug, which ends the process as Node would.
    if (this.#queues.size === 0) throw reason;
    if (typeof reason === "object" && reason !== null) strays.add(reason);
    const message = reason instanceof Error ? reason.message : "";
    const named = [...this.#queues.keys()].filter((machine) => message.startsWith(`${machine}: `));
    for (const machine of named.length > 0 ? named : [...this.#queues.keys()]) {
      const queue = this.#queues.get(machine);
      if (!queue) continue;
      if (queue.wake) queue.wake(reason);
      else queue.pending.push(reason);
    }
  }
}
