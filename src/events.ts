/**
 * Everything the library has to say goes through these events. Reporters (terminal, JSON lines,
 * reports) decide what a person or a file sees; library code never prints.
 */

export type PlanEvent =
  | { type: "plan:loaded"; plan: string; dir: string; steps: number; images: number }
  | { type: "plan:warning"; message: string; file?: string; line?: number };

export type FetchEvent =
  | { type: "fetch:plan"; missing: number; present: number; bytes: number }
  | { type: "fetch:start"; sha256: string; file: string; from: string; size?: number; resumeAt: number }
  | { type: "fetch:progress"; sha256: string; file: string; received: number; total?: number }
  | { type: "fetch:attempt-failed"; sha256: string; file: string; from: string; reason: string }
  | { type: "fetch:done"; sha256: string; file: string; from: string; bytes: number; ms: number }
  | { type: "fetch:quarantined"; sha256: string; file: string; from: string; actual: string; path: string }
  | { type: "source:admitted"; sha256: string; file: string; size: number; from: string };

export type StepReason = { kind: "no-entry" } | { kind: "changed"; inputs: string[] } | { kind: "forced" };

export interface PlannedStep {
  name: string;
  stage: string;
  key: string;
  deps: string[];
  sandbox: string;
  root: string;
  version?: string;
}

export interface HostTool {
  name: string;
  path?: string;
  sha256?: string;
  version?: string;
}

export type BuildEvent =
  | { type: "run:start"; runId: string; plan: string; runDir: string; steps: string[]; jobs: number }
  | {
      type: "run:plan";
      plan: string;
      dir: string;
      arch: string;
      variables: Record<string, string | number | boolean>;
      steps: PlannedStep[];
      disabled: { name: string; when: string }[];
    }
  | { type: "run:host"; tools: HostTool[]; cores: number; kernel: string; uid: number; node: string }
  /** The steps that will be built, each with its expected duration when an earlier run measured it. */
  | { type: "run:schedule"; jobs: number; steps: { step: string; estimateMs?: number }[] }
  | {
      type: "run:done";
      runId: string;
      ok: boolean;
      built: number;
      cached: number;
      failed: string[];
      ms: number;
    }
  | { type: "step:cached"; step: string; key: string }
  | { type: "step:waiting"; step: string; key: string; reason: string }
  | {
      type: "step:explain";
      step: string;
      key: string;
      runs: boolean;
      reason: StepReason | { kind: "cached" };
    }
  | {
      type: "step:start";
      step: string;
      key: string;
      attempt: number;
      attempts: number;
      jobs: number;
      worker: number;
      log: string;
      estimateMs?: number;
    }
  | { type: "step:output"; step: string; line: string }
  | { type: "step:attempt-failed"; step: string; attempt: number; reason: string; retrying: boolean }
  | {
      type: "step:done";
      step: string;
      key: string;
      ms: number;
      worker: number;
      bytes: number;
      files?: number;
      /** The output tree's digest (sha256 of the root directory's serialisation). */
      digest?: string;
    }
  | {
      type: "step:failed";
      step: string;
      key: string;
      ms: number;
      worker: number;
      reason: string;
      log: string;
      buildDir?: string;
      tail: string[];
    }
  | { type: "step:skipped"; step: string; because: string }
  | {
      type: "gc:remove";
      what: "entry" | "run" | "work" | "tmp";
      name: string;
      bytes: number;
      reason: string;
      dryRun: boolean;
    }
  | { type: "gc:done"; removed: number; kept: number; bytes: number; dryRun: boolean; ms: number };

export type ImageEvent =
  | { type: "image:cached"; image: string; key: string; path: string }
  | { type: "image:start"; image: string; key: string; kind: string }
  | { type: "image:done"; image: string; key: string; path: string; bytes: number; ms: number };

export type VmEvent =
  | { type: "vm:accel"; accel: "kvm" | "tcg"; reason: string }
  | { type: "vm:start"; machine: string; command: string[]; consoleLog: string }
  | { type: "vm:console"; machine: string; line: string }
  | { type: "vm:exit"; machine: string; code: number | null; signal: string | null };

export type TestEvent =
  | { type: "test:start"; image: string; test: string }
  | { type: "test:done"; image: string; test: string; ok: boolean; ms: number; error?: string };

export type RootstockEvent = PlanEvent | FetchEvent | BuildEvent | ImageEvent | VmEvent | TestEvent;

export type Emit = (event: RootstockEvent) => void;

/** An event as reporters receive it: stamped with the wall-clock time it was emitted. */
export type TimedEvent = RootstockEvent & { time: number };

export type Listener = (event: TimedEvent) => void;

/** Fans events out to reporters, stamping each with the time it happened. */
export class EventBus {
  readonly #listeners = new Set<Listener>();

  on(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  readonly emit: Emit = (event) => {
    const timed: TimedEvent = { ...event, time: Date.now() };
    for (const listener of this.#listeners) listener(timed);
  };
}

export const ignoreEvents: Emit = () => {};
