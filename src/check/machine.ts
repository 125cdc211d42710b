/**
 * A booted image as a test drives it, after the NixOS test driver: wait for console output, run
 * commands over the serial shell, reboot, crash, shut down. A kernel panic (or a fatal pattern the plan
 * declares) fails whatever is waiting at once; a wait that runs out of time fails with the last console
 * lines. Every method starts the machine if it is not running yet.
 */
import { RootstockError } from "../errors.ts";
import type { Emit } from "../events.ts";
import { monotonicMs } from "../units.ts";
import type { AcceleratorChoice } from "../vm/accelerator.ts";
import type { Accelerator, VmSpec } from "../vm/qemu-args.ts";
import { type QemuVm, startQemu, type VmExit } from "../vm/qemu-vm.ts";
import { commandScript, isReadyLine, ReplyReader, setupScript } from "./shell-protocol.ts";

const { randomBytes } = process.getBuiltinModule("node:crypto");
const { setTimeout: sleep } = process.getBuiltinModule("node:timers/promises");

export interface MachineOptions extends VmSpec {
  /** The machine's folder: console.log, qemu.log, vm.json, disk overlays. */
  runDir: string;
  accel?: Accelerator | "auto";
  /** From boot to a shell that answers (default 60 s). */
  bootTimeoutMs?: number;
  /** For each command unless it says otherwise (default 300 s). */
  commandTimeoutMs?: number;
  /** The shell's prompt, matched against the console's last line (default `[#$] $`). */
  prompt?: RegExp | string;
  /** Console patterns that fail the test at once, besides a kernel panic. */
  fatal?: (RegExp | string)[];
  /** Keep kernel messages off the console once the shell runs (default true); `dmesg` still has them. */
  quietKernel?: boolean;
  /** Default `sync; reboot -f`. */
  rebootCommand?: string;
  /** Default `sync; poweroff -f`. */
  poweroffCommand?: string;
  qemu?: string;
  kvmDevice?: string;
  probeTimeoutMs?: number;
  /** Where the KVM probe's answer is remembered between runs (the store's `cache/kvm-probe.json`). */
  probeMemoryFile?: string;
  emit?: Emit;
  signal?: AbortSignal;
}

export interface CommandResult {
  status: number;
  /** Output (standard output and error together) as UTF-8 text. */
  output: string;
  /** The same output as bytes, exactly. */
  bytes: Buffer;
}

export interface TimeoutOption {
  /** Milliseconds. */
  timeout?: number;
}

export const PANIC = /Kernel panic - not syncing/;
const DEFAULT_PROMPT = /[#$] $/;
const TAIL_LINES = 30;
/** How long the console stays quiet before a line without its newline (a prompt) counts as whole. */
const PARTIAL_LINE_QUIET_MS = 200;

interface Waiter {
  check: () => void;
  fail: (error: Error) => void;
}

export class Machine {
  readonly name: string;
  readonly #options: MachineOptions;
  readonly #prompt: RegExp;
  readonly #fatal: RegExp[];
  #vm: QemuVm | undefined;
  #starting: Promise<QemuVm> | undefined;
  #failure: Error | undefined;
  readonly #waiters = new Set<Waiter>();
  /** Console position from which the current boot's prompt is looked for. */
  #bootMark = 0;
  #shellReady = false;
  #readying: Promise<void> | undefined;
  #busy: string | undefined;
  #expectExit = false;
  /** The console of boots before a shutdown() and a new start(). */
  #earlierBoots = "";
  #consoleCursor = 0;
  #counter = 0;
  readonly #session = randomBytes(4).toString("hex");

  constructor(options: MachineOptions) {
    this.name = options.name;
    this.#options = options;
    this.#prompt =
      typeof options.prompt === "string" ? new RegExp(options.prompt) : (options.prompt ?? DEFAULT_PROMPT);
    this.#fatal = [
      PANIC,
      ...(options.fatal ?? []).map((pattern) =>
        typeof pattern === "string" ? new RegExp(pattern) : pattern,
      ),
    ];
  }

  /** The running QEMU, once started. */
  get vm(): QemuVm | undefined {
    return this.#vm;
  }

  get accel(): AcceleratorChoice | undefined {
    return this.#vm?.accel;
  }

  get running(): boolean {
    return this.#vm?.running === true;
  }

  /** Starts QEMU (once); does not wait for the guest to boot. */
  async start(): Promise<void> {
    if (this.#failure) throw this.#failure;
    if (this.#vm?.running) return;
    if (this.#vm && !this.#vm.running) {
      // Started again after a shutdown: a new boot, whose console follows the earlier ones'.
      const text = this.#vm.console.text();
      this.#earlierBoots += text === "" || text.endsWith("\n") ? text : `${text}\n`;
      this.#vm = undefined;
      this.#starting = undefined;
    }
    this.#starting ??= this.#launch();
    await this.#starting;
  }

  async #launch(): Promise<QemuVm> {
    const options = this.#options;
    const vm = await startQemu(options, {
      runDir: options.runDir,
      ...(options.accel === undefined ? {} : { accel: options.accel }),
      ...(options.qemu === undefined ? {} : { qemu: options.qemu }),
      ...(options.kvmDevice === undefined ? {} : { kvmDevice: options.kvmDevice }),
      ...(options.probeTimeoutMs === undefined ? {} : { probeTimeoutMs: options.probeTimeoutMs }),
      ...(options.probeMemoryFile === undefined ? {} : { probeMemoryFile: options.probeMemoryFile }),
      ...(options.emit === undefined ? {} : { emit: options.emit }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    this.#vm = vm;
    this.#expectExit = false;
    this.#shellReady = false;
    this.#readying = undefined;
    this.#busy = undefined;
    this.#bootMark = vm.console.lineCount;
    this.#consoleCursor = 0;
    vm.console.onUpdate(({ lines }) => {
      for (const line of lines) {
        const pattern = this.#fatal.find((fatal) => fatal.test(line));
        if (pattern && !this.#failure) {
          const panic = pattern === PANIC;
          this.#fail(
            new RootstockError(
              panic ? "ERR_CHECK_KERNEL_PANIC" : "ERR_CHECK_FATAL_OUTPUT",
              `${this.name}: ${panic ? "the kernel panicked" : `the console shows the fatal pattern /${pattern.source}/`}: ${line.trim()}${this.#tailText()}`,
              {
                hint: panic
                  ? "the lines before the panic say why (an init that exits, a missing root, a driver)"
                  : "the plan declares this pattern fatal under [images.NAME.boot] fatal",
              },
            ),
          );
          vm.kill();
          return;
        }
      }
      for (const waiter of this.#waiters) waiter.check();
    });
    vm.exited.then((exit) => {
      if (this.#expectExit || this.#failure) {
        for (const waiter of this.#waiters) waiter.check();
        return;
      }
      this.#fail(
        new RootstockError(
          "ERR_CHECK_VM_EXITED",
          `${this.name}: QEMU exited (${describeExit(exit)}) while the test still used the machine${this.#tailText()}`,
          { hint: `QEMU's own messages are in ${vm.qemuLog}` },
        ),
      );
    });
    options.signal?.addEventListener(
      "abort",
      () => this.#fail(new RootstockError("ERR_CHECK_ABORTED", `${this.name}: cancelled`)),
      {
        once: true,
      },
    );
    return vm;
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const waiter of [...this.#waiters]) waiter.fail(this.#failure);
  }

  #tailText(): string {
    const tail = this.#vm?.console.tail(TAIL_LINES) ?? [];
    return tail.length === 0
      ? "\n(the console printed nothing)"
      : `\nlast ${tail.length} console lines:\n${tail.map((line) => `  ${line}`).join("\n")}`;
  }

  /**
   * Resolves with `check`'s first defined value, tried now and on each console update; rejects when the
   * machine fails or `timeoutMs` runs out (with the console tail in the message).
   */
  #waitFor<T>(what: string, timeoutMs: number, check: () => T | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.#failure) {
        reject(this.#failure);
        return;
      }
      let timer: NodeJS.Timeout | undefined;
      const waiter: Waiter = {
        check: () => {
          try {
            const value = check();
            if (value !== undefined) done(() => resolve(value));
          } catch (error) {
            done(() => reject(error));
          }
        },
        fail: (error) => done(() => reject(error)),
      };
      const done = (settle: () => void) => {
        if (!this.#waiters.has(waiter)) return;
        this.#waiters.delete(waiter);
        clearTimeout(timer);
        settle();
      };
      this.#waiters.add(waiter);
      timer = setTimeout(() => {
        // A silent console: no lines to read, and most often no kernel that speaks on ttyS0.
        const silent = (this.#vm?.console.tail(1) ?? []).length === 0;
        done(() =>
          reject(
            new RootstockError(
              "ERR_CHECK_TIMEOUT",
              `${this.name}: ${what} within ${seconds(timeoutMs)}${this.#tailText()}`,
              {
                hint: silent
                  ? "a kernel that printed nothing may not write to ttyS0 (console=ttyS0 on its command line), may not be one QEMU's PC runs, or may need a longer timeout on a slow machine (no KVM); qemu.log beside console.log has QEMU's own messages"
                  : "the console lines above show how far it got; a slow machine (no KVM) may need a longer timeout",
              },
            ),
          ),
        );
      }, timeoutMs);
      waiter.check();
    });
  }

  /**
   * Waits until a console line matches `pattern`; lines already matched by an earlier call are not
   * looked at again. Returns the line.
   */
  async waitForConsole(pattern: RegExp | string, options: TimeoutOption = {}): Promise<string> {
    await this.start();
    const vm = this.#vm as QemuVm;
    const regex = typeof pattern === "string" ? new RegExp(pattern) : pattern;
    // A line still arriving is taken only once the console has been quiet a moment (a prompt has no
    // newline; a line cut mid-transfer would match part of itself), and only once.
    let partialSeen: { text: string; at: number } | undefined;
    let recheck: NodeJS.Timeout | undefined;
    return this.#waitFor(
      `no console output matched /${regex.source}/`,
      timeoutOf(options, this.#bootTimeout, "waitForConsole"),
      () => {
        const lines = vm.console.linesSince(this.#consoleCursor);
        for (const [index, line] of lines.entries()) {
          if (regex.test(line)) {
            this.#consoleCursor += index + 1;
            return line;
          }
        }
        this.#consoleCursor += lines.length;
        const partial = vm.console.partial;
        // The partial line becomes line `lineCount`; the cursor past it means it was taken already.
        if (partial === "" || this.#consoleCursor > vm.console.lineCount || !regex.test(partial))
          return undefined;
        if (partialSeen?.text !== partial) partialSeen = { text: partial, at: monotonicMs() };
        const quietFor = monotonicMs() - partialSeen.at;
        if (quietFor >= PARTIAL_LINE_QUIET_MS) {
          this.#consoleCursor = vm.console.lineCount + 1;
          return partial;
        }
        clearTimeout(recheck);
        recheck = setTimeout(() => {
          for (const waiter of this.#waiters) waiter.check();
        }, PARTIAL_LINE_QUIET_MS - quietFor);
        recheck.unref();
        return undefined;
      },
    ).finally(() => clearTimeout(recheck));
  }

  get #bootTimeout(): number {
    return this.#options.bootTimeoutMs ?? 60_000;
  }

  /** Waits for the shell's prompt, then makes the shell ready for commands. */
  async waitForShell(options: TimeoutOption = {}): Promise<void> {
    const timeoutMs = timeoutOf(options, this.#bootTimeout, "waitForShell");
    await this.start();
    if (this.#shellReady) {
      // Ready once, yet still running a command that did not finish: no shell answers now.
      if (this.#busy !== undefined) throw this.#busyError();
      return;
    }
    this.#readying ??= this.#readyShell(timeoutMs).finally(() => {
      this.#readying = undefined;
    });
    await this.#readying;
  }

  async #readyShell(timeoutMs: number): Promise<void> {
    const vm = this.#vm as QemuVm;
    const deadline = Date.now() + timeoutMs;
    await this.#waitFor(`no shell prompt matching /${this.#prompt.source}/ came`, timeoutMs, () => {
      if (this.#prompt.test(vm.console.partial)) return true;
      return vm.console.linesSince(this.#bootMark).some((line) => this.#prompt.test(line)) ? true : undefined;
    });
    const id = this.#nextId();
    const script = setupScript(id, { quietKernel: this.#options.quietKernel ?? true });
    const from = vm.console.lineCount;
    vm.console.write(script);
    // Typed while the shell was not quite reading yet, a line can be lost; saying it again is harmless.
    const again = setInterval(() => vm.console.write(script), 3000);
    try {
      await this.#waitFor("the shell did not answer", Math.max(1, deadline - Date.now()), () =>
        vm.console.linesSince(from).some((line) => isReadyLine(line, id)) ||
        isReadyLine(vm.console.partial, id)
          ? true
          : undefined,
      );
    } finally {
      clearInterval(again);
    }
    this.#shellReady = true;
  }

  #nextId(): string {
    this.#counter += 1;
    return `${this.#session}${this.#counter.toString(36)}`;
  }

  /** Runs `command` in the guest's shell and returns its exit status and output, whatever the status. */
  async execute(command: string, options: TimeoutOption = {}): Promise<CommandResult> {
    const timeoutMs = timeoutOf(options, this.#commandTimeout, "a command");
    await this.waitForShell();
    const vm = this.#vm as QemuVm;
    const id = this.#nextId();
    const reader = new ReplyReader(id);
    let scanned = vm.console.lineCount;
    this.#busy = command;
    // A command that resets the machine (reboot, a panic with panic=N, a watchdog) never replies.
    let reset = false;
    const off = vm.qmp.onEvent((event) => {
      if (event.event !== "RESET") return;
      reset = true;
      for (const waiter of this.#waiters) waiter.check();
    });
    vm.console.write(commandScript(command, id));
    const reply = await this.#waitFor(
      `the command ${JSON.stringify(command)} did not finish`,
      timeoutMs,
      () => {
        if (reset) {
          // Its shell went with the reset: the next call waits for the new boot's.
          vm.console.breakLine();
          this.#bootMark = vm.console.lineCount;
          this.#shellReady = false;
          this.#busy = undefined;
          throw new RootstockError(
            "ERR_CHECK_MACHINE_RESET",
            `${this.name}: the machine reset while the command ${JSON.stringify(command)} ran`,
            {
              hint: "a command that reboots the guest never answers: reboot it with machine.reboot(), which waits for the reset and the new shell",
            },
          );
        }
        const lines = vm.console.linesSince(scanned);
        for (const [index, line] of lines.entries()) {
          const done = reader.feed(line);
          if (done) {
            scanned += index + 1;
            return done;
          }
        }
        scanned += lines.length;
        return undefined;
      },
    )
      .catch((error: unknown) => {
        // A reply that came back unreadable came back whole: the command has ended, the shell is free.
        const unreadable = ["ERR_CHECK_GARBLED_REPLY", "ERR_CHECK_SHELL_PROTOCOL"];
        if (error instanceof RootstockError && unreadable.includes(error.code)) {
          this.#busy = undefined;
          throw new RootstockError(
            error.code,
            `${this.name}: command ${JSON.stringify(command)}: ${error.message}`,
            {
              ...(error.hint === undefined ? {} : { hint: error.hint }),
            },
          );
        }
        throw error;
      })
      .finally(off);
    this.#busy = undefined;
    return { status: reply.status, output: reply.output.toString("utf8"), bytes: reply.output };
  }

  get #commandTimeout(): number {
    return this.#options.commandTimeoutMs ?? 300_000;
  }

  /** Runs `command`, which must succeed; returns its output. */
  async succeed(command: string, options: TimeoutOption = {}): Promise<string> {
    const result = await this.execute(command, options);
    if (result.status !== 0) {
      throw new RootstockError(
        "ERR_CHECK_COMMAND_FAILED",
        `${this.name}: command ${JSON.stringify(command)} failed with exit status ${result.status}${outputText(result.output)}`,
      );
    }
    return result.output;
  }

  /** Runs `command`, which must fail; returns its output. */
  async fail(command: string, options: TimeoutOption = {}): Promise<string> {
    const result = await this.execute(command, options);
    if (result.status === 0) {
      throw new RootstockError(
        "ERR_CHECK_COMMAND_SUCCEEDED",
        `${this.name}: command ${JSON.stringify(command)} succeeded, but it was expected to fail${outputText(result.output)}`,
      );
    }
    return result.output;
  }

  /** Runs `command` every second until it succeeds; returns its output. */
  async waitUntilSucceeds(command: string, options: TimeoutOption = {}): Promise<string> {
    return this.#retry(command, timeoutOf(options, this.#commandTimeout, "waitUntilSucceeds"), true);
  }

  /** Runs `command` every second until it fails; returns its output. */
  async waitUntilFails(command: string, options: TimeoutOption = {}): Promise<string> {
    return this.#retry(command, timeoutOf(options, this.#commandTimeout, "waitUntilFails"), false);
  }

  async #retry(command: string, timeoutMs: number, wantSuccess: boolean): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let last: CommandResult | undefined;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      last = await this.execute(command, { timeout: left });
      if ((last.status === 0) === wantSuccess) return last.output;
      const pause = Math.min(1000, deadline - Date.now());
      if (pause <= 0) break;
      await sleep(pause);
    }
    throw new RootstockError(
      "ERR_CHECK_TIMEOUT",
      `${this.name}: command ${JSON.stringify(command)} did not ${wantSuccess ? "succeed" : "fail"} within ${seconds(timeoutMs)}${last ? ` (last exit status ${last.status})${outputText(last.output)}` : ""}`,
    );
  }

  /** Reboots the guest from its shell (same disks) and resolves once it has reset; commands wait for the new shell. */
  async reboot(options: TimeoutOption = {}): Promise<void> {
    // A shell still running a command that did not finish cannot take `reboot`: the reset button can.
    const timeoutMs = timeoutOf(options, this.#bootTimeout, "reboot");
    if (this.#busy !== undefined) return this.crash();
    await this.waitForShell();
    const vm = this.#vm as QemuVm;
    await this.#untilReset(vm, timeoutMs, () =>
      vm.console.write(`${this.#options.rebootCommand ?? "sync; reboot -f"}\n`),
    );
  }

  /** Resets the machine at once, as the reset button does: no sync, no shutdown. */
  async crash(): Promise<void> {
    await this.start();
    const vm = this.#vm as QemuVm;
    await this.#untilReset(vm, 10_000, () => {
      vm.reset().catch(() => {});
    });
  }

  async #untilReset(vm: QemuVm, timeoutMs: number, act: () => void): Promise<void> {
    let reset = false;
    const off = vm.qmp.onEvent((event) => {
      if (event.event === "RESET") {
        reset = true;
        for (const waiter of this.#waiters) waiter.check();
      }
    });
    try {
      act();
      await this.#waitFor("the machine did not reset", timeoutMs, () => (reset ? true : undefined));
    } finally {
      off();
    }
    vm.console.breakLine();
    this.#bootMark = vm.console.lineCount;
    this.#shellReady = false;
    this.#busy = undefined;
  }

  /** Powers the guest off from its shell and resolves when QEMU has exited. */
  async shutdown(options: TimeoutOption = {}): Promise<void> {
    const timeoutMs = timeoutOf(options, this.#bootTimeout, "shutdown");
    if (!this.#vm?.running) return;
    // A shell still running a command cannot read `poweroff`: said now, not after the whole timeout.
    if (this.#busy !== undefined) throw this.#busyError();
    await this.waitForShell();
    const vm = this.#vm as QemuVm;
    this.#expectExit = true;
    vm.console.write(`${this.#options.poweroffCommand ?? "sync; poweroff -f"}\n`);
    await this.#waitFor("the machine did not power off", timeoutMs, () => (vm.running ? undefined : true));
  }

  /**
   * Everything the console printed since the machine first started (cleaned of escape sequences),
   * every boot of it: one after shutdown() and start() too.
   */
  consoleLog(): string {
    return this.#earlierBoots + (this.#vm?.console.text() ?? "");
  }

  #busyError(): RootstockError {
    return new RootstockError(
      "ERR_CHECK_SHELL_BUSY",
      `${this.name}: the shell still runs ${JSON.stringify(this.#busy)}, which did not finish in its time`,
      { hint: "a command that never ends leaves the shell busy; call crash() or reboot() to recover" },
    );
  }

  /** Ends QEMU if it still runs. Safe to call at any time, any number of times. */
  async stop(): Promise<VmExit | undefined> {
    if (this.#starting) await this.#starting.catch(() => {});
    const vm = this.#vm;
    if (!vm) return undefined;
    this.#expectExit = true;
    return vm.running ? vm.quit(2000) : vm.exited;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/**
 * Where the Machine API was called from, for each failure it gave: most of them (a timeout, a reset, the
 * console's verdict) are made in a timer or a console callback, whose stacks hold no line of the test.
 * Kept beside the error, not in its stack, which stays what it was.
 */
export const callSites = new WeakMap<object, string[]>();

for (const name of [
  "start",
  "waitForConsole",
  "waitForShell",
  "execute",
  "succeed",
  "fail",
  "waitUntilSucceeds",
  "waitUntilFails",
  "reboot",
  "crash",
  "shutdown",
] as const) {
  const method = Machine.prototype[name] as (this: Machine, ...args: unknown[]) => Promise<unknown>;
  Object.defineProperty(Machine.prototype, name, {
    configurable: true,
    writable: true,
    value(this: Machine, ...args: unknown[]) {
      const site = new Error();
      return method.apply(this, args).catch((error: unknown) => {
        if (typeof error === "object" && error !== null && site.stack)
          callSites.set(error, [...(callSites.get(error) ?? []), site.stack]);
        throw error;
      });
    },
  });
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}

function describeExit(exit: VmExit): string {
  return exit.signal ? `killed by ${exit.signal}` : `status ${exit.code}`;
}

function outputText(output: string): string {
  if (output === "") return " and printed nothing";
  const lines = output.replace(/\n$/, "").split("\n");
  const shown = lines.length > 20 ? [`… ${lines.length - 20} lines left out`, ...lines.slice(-20)] : lines;
  return `; its output:\n${shown.map((line) => `  ${line}`).join("\n")}`;
}

/** A method's timeout, or its default; one that is no positive number of milliseconds is refused. */
function timeoutOf(options: TimeoutOption, fallback: number, method: string): number {
  const { timeout } = options;
  if (timeout === undefined) return fallback;
  // Node's timers wait at most 2^31 - 1 ms (24.8 days): a longer one fires at once.
  if (typeof timeout !== "number" || !(timeout > 0) || !(timeout <= 2 ** 31 - 1))
    throw new RootstockError(
      "ERR_CHECK_BAD_TIMEOUT",
      `${method}: timeout must be a number of milliseconds above 0 and at most 2147483647 (24.8 days), not ${String(timeout)}`,
      { hint: "leave timeout out for the default, or give one such as { timeout: 30_000 }" },
    );
  return timeout;
}
