/**
 * A running QEMU: the serial console on a unix socket (and logged to a file), QMP on another, disks
 * behind copy-on-write overlays unless they persist. A guest that halts instead of powering off is
 * seen on the console and QEMU is ended; QEMU never outlives rootstock (see process-reaper.ts).
 */
import type { ChildProcess } from "node:child_process";
import type { Server, Socket } from "node:net";
import { describeCause, RootstockError } from "../errors.ts";
import { type Emit, ignoreEvents } from "../events.ts";
import { runCommand } from "../host/run-command.ts";
import { findOnPath, hostPath } from "../host/tools.ts";
import { type AcceleratorChoice, chooseAccelerator } from "./accelerator.ts";
import { spawnTied } from "./process-reaper.ts";
import { type Accelerator, type AttachedDisk, type QemuPaths, qemuArgs, type VmSpec } from "./qemu-args.ts";
import { QmpClient } from "./qmp-client.ts";
import { SerialConsole } from "./serial-console.ts";

const { createWriteStream, existsSync, rmSync } = process.getBuiltinModule("node:fs");
const { appendFile, chmod, mkdir, mkdtemp, readFile, rm, writeFile } =
  process.getBuiltinModule("node:fs/promises");
const { createServer } = process.getBuiltinModule("node:net");
const { tmpdir } = process.getBuiltinModule("node:os");
const { join, resolve } = process.getBuiltinModule("node:path");

export interface StartQemuOptions {
  /** The machine's folder: console.log, qemu.log, vm.json and disk overlays. */
  runDir: string;
  /** Default auto: KVM if the probe says it works, else TCG. */
  accel?: Accelerator | "auto";
  /** Default qemu-system-x86_64. */
  qemu?: string;
  /** For the KVM probe (default /dev/kvm). */
  kvmDevice?: string;
  probeTimeoutMs?: number;
  /** Where the KVM probe's answer is remembered between runs (the store's `cache/kvm-probe.json`). */
  probeMemoryFile?: string;
  emit?: Emit;
  signal?: AbortSignal;
  /** How long QEMU may take to connect its console and QMP (default 30 s). */
  startTimeoutMs?: number;
}

export interface VmExit {
  code: number | null;
  signal: string | null;
}

/** Console lines of a guest that stopped without QEMU exiting (no ACPI, or a plain halt). */
export const HALTED = /reboot: (System halted|Power down)/;

export class QemuVm {
  readonly name: string;
  readonly accel: AcceleratorChoice;
  readonly console: SerialConsole;
  readonly qmp: QmpClient;
  readonly command: string[];
  readonly runDir: string;
  readonly consoleLog: string;
  readonly qemuLog: string;
  /** Resolves when QEMU has exited, however it ended. */
  readonly exited: Promise<VmExit>;
  readonly #child: ChildProcess;
  #running = true;

  constructor(parts: {
    name: string;
    accel: AcceleratorChoice;
    console: SerialConsole;
    qmp: QmpClient;
    command: string[];
    runDir: string;
    consoleLog: string;
    qemuLog: string;
    child: ChildProcess;
    exited: Promise<VmExit>;
  }) {
    this.name = parts.name;
    this.accel = parts.accel;
    this.console = parts.console;
    this.qmp = parts.qmp;
    this.command = parts.command;
    this.runDir = parts.runDir;
    this.consoleLog = parts.consoleLog;
    this.qemuLog = parts.qemuLog;
    this.#child = parts.child;
    this.exited = parts.exited;
    this.exited.then(() => {
      this.#running = false;
    });
  }

  get running(): boolean {
    return this.#running;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Hard reset, as the reset button does (QMP system_reset). */
  async reset(): Promise<void> {
    await this.qmp.execute("system_reset");
  }

  /** Ends QEMU at once (QMP quit); kills it if it does not go within `timeoutMs` (default 5 s). */
  async quit(timeoutMs = 5000): Promise<VmExit> {
    if (!this.#running) return this.exited;
    this.qmp.execute("quit").catch(() => {});
    const timer = setTimeout(() => this.kill(), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): Promise<VmExit> {
    if (this.#running) this.#child.kill("SIGKILL");
    return this.exited;
  }
}

/** Linux's limit on a socket's path (sun_path), its last byte the terminating zero. */
const SOCKET_PATH_MAX = 107;

/**
 * Where the sockets go: $TMPDIR, as a user expects, unless its path is too long for a socket (a deep
 * TMPDIR in CI), then /tmp.
 */
const SOCKET_HINT =
  "QEMU's console and QMP sockets go in $TMPDIR: set it to a short folder you can write (TMPDIR=/tmp)";

function socketParent(): string {
  const longest = join(tmpdir(), "rootstock-vm-XXXXXX", "console.sock");
  return Buffer.byteLength(longest) <= SOCKET_PATH_MAX ? tmpdir() : "/tmp";
}

export async function startQemu(spec: VmSpec, options: StartQemuOptions): Promise<QemuVm> {
  const emit = options.emit ?? ignoreEvents;
  const runDir = resolve(options.runDir);
  const wanted = options.qemu ?? "qemu-system-x86_64";
  // Found where doctor looks for it. Said before the accelerator probe, whose failure would read as a
  // KVM problem.
  const qemu = await findOnPath(wanted, hostPath());
  if (qemu === undefined) {
    throw new RootstockError("ERR_HOST_TOOL_MISSING", `${wanted} is not on this host's PATH`, {
      hint: "install QEMU (Debian's qemu-system-x86; `rootstock doctor --install` as root does it), or add its folder to PATH",
    });
  }
  await mkdir(runDir, { recursive: true });
  // Its disk overlays hold every block the guest writes, its console the whole session: its owner's.
  await chmod(runDir, 0o700);
  const probeKernel = spec.kernel ?? spec.netboot?.probeKernel;
  const accel = await chooseAccelerator(options.accel ?? "auto", {
    ...(probeKernel === undefined ? {} : { kernel: probeKernel }),
    qemu,
    ...(options.kvmDevice === undefined ? {} : { device: options.kvmDevice }),
    ...(options.probeTimeoutMs === undefined ? {} : { timeoutMs: options.probeTimeoutMs }),
    ...(options.probeMemoryFile === undefined ? {} : { memoryFile: options.probeMemoryFile }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  emit({ type: "vm:accel", machine: spec.name, accel: accel.accel, reason: accel.reason });
  options.signal?.throwIfAborted();

  const disks = await attachDisks(spec, runDir, options.signal);
  const socketDir = await mkdtemp(join(socketParent(), "rootstock-vm-")).catch((error: unknown) => {
    throw new RootstockError(
      "ERR_VM_START_FAILED",
      `cannot make a folder for QEMU's sockets in ${socketParent()} ($TMPDIR): ${describeCause(error)}`,
      { hint: SOCKET_HINT, cause: error },
    );
  });
  const paths: QemuPaths = {
    consoleSocket: join(socketDir, "console.sock"),
    qmpSocket: join(socketDir, "qmp.sock"),
    consoleLog: join(runDir, "console.log"),
  };
  const qemuLog = join(runDir, "qemu.log");
  const args = qemuArgs(spec, { accel: accel.accel, paths, disks });
  // Appended to: a machine started again in its folder keeps the console of its earlier boots.
  await appendFile(paths.consoleLog, "");
  await writeFile(
    join(runDir, "vm.json"),
    `${JSON.stringify({ name: spec.name, accel: accel.accel, reason: accel.reason, probeMs: accel.probeMs, rememberedFrom: accel.rememberedFrom, command: [qemu, ...args] }, null, 2)}\n`,
  );

  const servers: Server[] = [];
  try {
    for (const path of [paths.consoleSocket, paths.qmpSocket]) servers.push(await listen(path));
  } catch (error) {
    for (const server of servers) server.close();
    await rm(socketDir, { recursive: true, force: true });
    throw new RootstockError(
      "ERR_VM_START_FAILED",
      `cannot listen on ${paths.consoleSocket}: ${describeCause(error)}`,
      {
        hint: SOCKET_HINT,
        cause: error,
      },
    );
  }
  const [consoleServer, qmpServer] = servers as [Server, Server];
  const consoleConnection = accept(consoleServer);
  const qmpConnection = accept(qmpServer);

  const child = spawnTied(qemu, args, { stdio: ["ignore", "ignore", "pipe"] });
  const log = createWriteStream(qemuLog);
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    log.write(chunk);
    stderr = (stderr + chunk.toString()).slice(-4096);
  });
  const exited = new Promise<VmExit>((resolveExit) => {
    child.once("exit", (code, signal) => resolveExit({ code, signal }));
    child.once("error", (error) => {
      stderr += error.message;
      resolveExit({ code: null, signal: null });
    });
  });
  // Gone with rootstock too when it ends first (process.exit, an uncaught error), as QEMU is.
  const removeSocketDir = () => rmSync(socketDir, { recursive: true, force: true });
  process.once("exit", removeSocketDir);
  const cleanup = exited.then(async (exit) => {
    consoleServer.close();
    qmpServer.close();
    log.end();
    process.off("exit", removeSocketDir);
    await rm(socketDir, { recursive: true, force: true });
    emit({ type: "vm:exit", machine: spec.name, code: exit.code, signal: exit.signal });
    return exit;
  });

  const onAbort = () => child.kill("SIGKILL");
  options.signal?.addEventListener("abort", onAbort, { once: true });
  cleanup.then(() => options.signal?.removeEventListener("abort", onAbort));

  let timer: NodeJS.Timeout | undefined;
  let sockets: [Socket, Socket];
  try {
    sockets = await Promise.race([
      Promise.all([consoleConnection, qmpConnection]),
      exited.then((exit) => {
        throw new RootstockError(
          "ERR_VM_START_FAILED",
          `QEMU for ${spec.name} exited (${exit.signal ?? `status ${exit.code}`}) before the machine started${stderr.trim() ? `:\n${stderr.trim().split("\n").slice(-8).join("\n")}` : ""}`,
          { hint: `check the kernel, initrd and disk paths; QEMU's output is in ${qemuLog}` },
        );
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new RootstockError(
                "ERR_VM_START_FAILED",
                `QEMU for ${spec.name} did not connect its console within ${(options.startTimeoutMs ?? 30_000) / 1000}s`,
                {
                  hint: `QEMU's output is in ${qemuLog}`,
                },
              ),
            ),
          options.startTimeoutMs ?? 30_000,
        );
      }),
    ]);
  } catch (error) {
    child.kill("SIGKILL");
    await cleanup;
    throw error;
  } finally {
    clearTimeout(timer);
  }
  consoleServer.close();
  qmpServer.close();
  const [consoleSocket, qmpSocket] = sockets;

  const serial = new SerialConsole({ machine: spec.name, emit });
  consoleSocket.on("data", (chunk: Buffer) => serial.feed(chunk));
  consoleSocket.on("error", () => {});
  serial.connect((data) => {
    if (!consoleSocket.destroyed) consoleSocket.write(data);
  });
  const qmp = new QmpClient(qmpSocket);
  const vm = new QemuVm({
    name: spec.name,
    accel,
    console: serial,
    qmp,
    command: [qemu, ...args],
    runDir,
    consoleLog: paths.consoleLog,
    qemuLog,
    child,
    exited: cleanup,
  });
  serial.onUpdate(({ lines }) => {
    const halted = lines.find((line) => HALTED.test(line));
    if (halted && vm.running) {
      emit({ type: "vm:halted", machine: spec.name, line: halted });
      vm.quit();
    }
  });
  try {
    await qmp.ready;
  } catch (error) {
    await vm.kill();
    // QEMU has most likely exited, saying why (a disk it cannot lock, an initrd it cannot read).
    const said = (await readFile(qemuLog, "utf8").catch(() => "")).trim().split("\n").slice(-8).join("\n");
    throw new RootstockError(
      "ERR_VM_START_FAILED",
      `QEMU for ${spec.name} did not answer on QMP${said ? `; its last words:\n${said}` : ""}`,
      {
        cause: error,
        hint: `QEMU's output is in ${qemuLog}`,
      },
    );
  }
  emit({ type: "vm:start", machine: spec.name, command: [qemu, ...args], consoleLog: paths.consoleLog });
  return vm;
}

async function attachDisks(spec: VmSpec, runDir: string, signal?: AbortSignal): Promise<AttachedDisk[]> {
  const attached: AttachedDisk[] = [];
  const written = new Set<string>();
  for (const [index, disk] of (spec.disks ?? []).entries()) {
    const file = resolve(disk.path);
    // Two drives writing one file: QEMU refuses the second lock, and no guest could use both.
    if (disk.persist && !disk.readOnly) {
      if (written.has(file))
        throw new RootstockError(
          "ERR_VM_DISK",
          `${spec.name}: the disk ${disk.path} is attached twice, and written through both`,
          {
            hint: "list each disk image once in the image's boot disks, or boot without --persist (each drive then writes a copy of its own)",
          },
        );
      written.add(file);
    }
    const format = disk.format ?? (file.endsWith(".qcow2") ? "qcow2" : "raw");
    if (disk.readOnly || disk.persist) {
      attached.push({ file, format, readOnly: disk.readOnly === true });
      continue;
    }
    const overlay = join(runDir, `disk${index}.qcow2`);
    // A machine started again in its folder (a test module's, after shutdown()) keeps its disks' writes,
    // as a real machine powered on again does.
    attached.push({ file: overlay, format: "qcow2", readOnly: false });
    if (existsSync(overlay)) continue;
    await runCommand("qemu-img", ["create", "-q", "-f", "qcow2", "-F", format, "-b", file, overlay], {
      signal,
      code: "ERR_VM_DISK",
      what: `making a copy-on-write overlay for ${disk.path}`,
    });
  }
  return attached;
}

function listen(path: string): Promise<Server> {
  return new Promise((resolveServer, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(path, () => resolveServer(server));
  });
}

function accept(server: Server): Promise<Socket> {
  return new Promise((resolveSocket) => server.once("connection", resolveSocket));
}
