/**
 * Everything the library has to say goes through these events. Reporters (terminal, JSON lines,
 * reports) decide what a person or a file sees; library code never prints.
 */

export type FetchEvent =
  /** `bytes` sums the pinned sizes of the missing files; `unsized` of them pin none. */
  | { type: "fetch:plan"; missing: number; present: number; bytes: number; unsized?: number }
  | { type: "fetch:start"; sha256: string; file: string; from: string; size?: number; resumeAt: number }
  | { type: "fetch:progress"; sha256: string; file: string; received: number; total?: number }
  /** Another process is downloading the same file: this one waits for it (its pid, when it said). */
  | { type: "fetch:waiting"; sha256: string; file: string; pid?: number }
  /** `missing`: the place holds no such file (a mirror folder tried by hash, then by name): no failure of its own. */
  | {
      type: "fetch:attempt-failed";
      sha256: string;
      file: string;
      from: string;
      reason: string;
      missing?: true;
    }
  | { type: "fetch:done"; sha256: string; file: string; from: string; bytes: number; ms: number }
  | { type: "fetch:quarantined"; sha256: string; file: string; from: string; actual: string; path: string }
  /** Another Debian version (a revision bump), or another file name, than pinned gave the pinned sha256. */
  | {
      type: "fetch:substitute";
      sha256: string;
      file: string;
      package: string;
      pinned: string;
      used: string;
      pinnedFile?: string;
      usedFile?: string;
    }
  | { type: "source:admitted"; sha256: string; file: string; size: number; from: string };

/** Why what Ctrl-C or SIGTERM stopped, and what waited for it, did not finish. */
export const INTERRUPTED = "the run was interrupted";

export type StepReason =
  /**
   * No entry with its key. `before`: what became of this plan's last build with the same inputs (none
   * known when absent): it failed, did not finish, or was built and its entry removed since.
   */
  | { kind: "no-entry"; before?: { outcome: "failed" | "unfinished" | "removed"; runId: string } }
  | { kind: "changed"; inputs: string[] }
  | { kind: "forced" };

/**
 * What stopped a run before its steps, images or tests could say (a source that could not be fetched, a
 * host tool missing): the error as the terminal showed it.
 */
export interface RunError {
  code: string;
  message: string;
  /** The errors it gathers (each source that could not be obtained), one headline each, with its hint. */
  details?: string[];
  /** What to do about it, as the terminal says. */
  hint?: string;
}

export type BuildEvent =
  | { type: "run:start"; runId: string; plan: string; runDir: string; steps: string[]; jobs: number }
  /**
   * The host tools rootstock ran itself in this run (tar and patch on sources, bwrap, image writers,
   * QEMU), which no key names; sent before run:end when there were any.
   */
  | {
      type: "run:tools";
      tools: { name: string; path: string; realPath: string; version: string; sha256: string }[];
    }
  /** The end of the whole run: build, images and tests. */
  | { type: "run:end"; runId: string; ok: boolean; ms: number; interrupted?: true; error?: RunError }
  /** The steps that will be built, each with its expected duration when an earlier run measured it. */
  /**
   * The steps to build, with their durations in earlier runs and the dependencies among them; with
   * `keepGoing`, a failure does not stop the others.
   */
  | {
      type: "run:schedule";
      jobs: number;
      keepGoing?: true;
      steps: { step: string; estimateMs?: number; deps?: string[] }[];
    }
  | {
      type: "run:done";
      runId: string;
      ok: boolean;
      built: number;
      cached: number;
      failed: string[];
      /** Steps stopped by Ctrl-C or SIGTERM (never in `failed`); set only when the run was interrupted. */
      interrupted?: string[];
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
      /** Stopped by Ctrl-C or SIGTERM, not failed by its own doing. */
      interrupted?: true;
      /** It failed while its build folder was prepared: there is no sandbox for `rootstock shell`. */
      noSandbox?: true;
    }
  | { type: "step:skipped"; step: string; because: string }
  | {
      type: "gc:remove";
      what: "entry" | "image" | "bundle" | "run" | "work" | "tmp";
      name: string;
      bytes: number;
      reason: string;
      dryRun: boolean;
    }
  | { type: "gc:done"; removed: number; kept: number; bytes: number; dryRun: boolean; ms: number };

export type ImageEvent =
  | {
      type: "image:cached";
      image: string;
      key: string;
      kind: string;
      path: string;
      bytes: number;
      sha256?: string;
    }
  | { type: "image:waiting"; image: string; key: string; reason: string }
  | { type: "image:start"; image: string; key: string; kind: string }
  | {
      type: "image:done";
      image: string;
      key: string;
      path: string;
      bytes: number;
      ms: number;
      sha256?: string;
    }
  | { type: "image:failed"; image: string; error: string; interrupted?: true };

export type VmEvent =
  | { type: "vm:accel"; machine: string; accel: "kvm" | "tcg"; reason: string }
  | { type: "vm:start"; machine: string; command: string[]; consoleLog: string }
  | { type: "vm:console"; machine: string; line: string }
  | { type: "vm:halted"; machine: string; line: string }
  /** A disk the guest writes through to: a copy of the image kept outside the store (`boot --persist`). */
  | { type: "vm:persist"; machine: string; image: string; path: string; created: boolean; stale: boolean }
  | { type: "vm:exit"; machine: string; code: number | null; signal: string | null };

export type TestEvent =
  | { type: "test:start"; image: string; module: string; test: string }
  | {
      type: "test:done";
      image: string;
      module: string;
      test: string;
      ok: boolean;
      ms: number;
      error?: string;
      /** The console log of the machine the test drove. */
      consoleLog?: string;
      /** What the test proves when it passes (the module's `evidence` export). */
      evidence?: string[];
    }
  | { type: "test:skipped"; image: string; module: string; test: string; reason: string }
  | {
      type: "test:summary";
      ok: boolean;
      /** Stopped by Ctrl-C or SIGTERM: the skipped tests were not run, not failed. */
      interrupted?: true;
      passed: number;
      failed: number;
      skipped: number;
      ms: number;
      runDir: string;
      junit: string;
    };

export type NetbootEvent =
  | {
      type: "netboot:bundle";
      image: string;
      key: string;
      dir: string;
      cached: boolean;
      bytes: number;
      /** How long making it took (a bundle not cached). */
      ms?: number;
      /** Why busybox's applets were not checked (it runs on another arch than this host's). */
      appletsUnchecked?: string;
    }
  | { type: "netboot:listening"; url: string; address: string; port: number }
  /** How to boot from the server once it listens (what the terminal prints), and the LAN's dnsmasq config. */
  | {
      type: "netboot:serving";
      url: string;
      instructions: { what: string; line: string }[];
      /** Where the LAN's dnsmasq config was written, or why there is none. */
      dnsmasq?: string;
      dnsmasqSkipped?: string;
    }
  | {
      type: "netboot:request";
      method: string;
      /** The request target as sent (cut to 200 characters). */
      path: string;
      status: number;
      /** Body bytes sent. */
      bytes: number;
      range?: string;
      /** False when the client went away before the response ended (or the server stopped). */
      complete: boolean;
      remote: string;
      ms: number;
      /** For a refusal (4xx, 5xx): what the client was told. */
      note?: string;
    };

export type RootstockEvent =
  | FetchEvent
  | BuildEvent
  | ImageEvent
  | VmEvent
  | TestEvent
  | NetbootEvent
  | ContextEvent;

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

/** What a run was about, emitted once after `run:start`, so that reports need nothing but the journal. */
/**
 * What a run's journal records, by version: 2 has the whole command line (options, and images named as
 * targets) and every bundle's time; 3 also the store's notes of how sources came in and the tools
 * rootstock ran (run:tools); 4 also a stopped run's hint. Absent (1) in journals of an older rootstock. Raised with every addition,
 * so that an older rootstock leaves a newer journal's reports as they are rather than drop what it adds.
 */
export const JOURNAL_FORMAT = 4;

export interface RunContext {
  /** JOURNAL_FORMAT of the rootstock that wrote it. */
  journal?: number;
  /** The command that made the run: run, test, demo. */
  command: string;
  /** The steps or images the command named after the plan. */
  targets?: string[];
  /** The options it was given on its command line (but --store, and --set: the plan's `set` tells those). */
  options?: string[];
  /** The folder it was run in: a plan named by a relative path is found from there. */
  cwd?: string;
  plan: {
    name: string;
    description?: string;
    arch: string;
    upstream?: string;
    documentation?: string;
    /** The plan folder as the user named it. */
    dir: string;
    /** Version-control revision of the plan folder, when it is in a git work tree. */
    revision?: string;
    /** A hash of every step's key: names exactly what was built, uncommitted changes included. */
    digest?: string;
    /** How many steps the plan has: a run of some of them (`run PLAN STEP`, an image) covers fewer. */
    steps?: number;
    /** Host packages the plan declares beyond its tools ([host] packages): libraries, headers. */
    packages?: string[];
    /** Variables given other values than the plan's (`--set`), as the command to repeat the run needs. */
    set?: Record<string, string | number | boolean>;
  };
  rootstock: { version: string; revision?: string };
  host: { cpu: string; cores: number; memoryBytes: number; os: string; kernel: string };
  stages: { name: string; description?: string; steps: string[] }[];
  steps: {
    name: string;
    stage: string;
    version?: string;
    description?: string;
    deps: string[];
    sandbox: string;
    root: string;
    key: string;
    sources: { file: string; sha256: string; url?: string; debian?: string }[];
    patches: string[];
  }[];
  /**
   * How the store's sources of these steps came into it, by sha256, when it kept a note (a store older
   * than the note has none): fetched from a URL, a mirror or Debian, or imported from a file.
   */
  sourceOrigins?: Record<string, { how: "fetched" | "imported"; from: string; at: string }>;
  /** Every binary the bootstrap trusted: the host tools steps could run. */
  seeds: { name: string; path: string; realPath: string; version: string; sha256: string }[];
  /** Steps left out by their `when` predicate. */
  disabled: { name: string; when: string; stage?: string }[];
}

export type ContextEvent = { type: "run:context"; context: RunContext };
