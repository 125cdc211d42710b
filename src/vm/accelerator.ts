/**
 * KVM only when it truly works. On some machines /dev/kvm exists and a guest hangs as soon as it leaves
 * real mode (SeaBIOS runs, a kernel never does), so the probe boots the kernel itself under KVM with no
 * root to mount, and KVM is chosen only if the kernel gets as far as its panic within a few seconds.
 * Otherwise it is TCG, with the reason.
 */
import { RootstockError } from "../errors.ts";
import { monotonicMs } from "../units.ts";
import { rememberedProbe } from "./probe-memory.ts";
import { spawnTied } from "./process-reaper.ts";
import type { Accelerator } from "./qemu-args.ts";

const { access, constants } = process.getBuiltinModule("node:fs/promises");

export interface AcceleratorChoice {
  accel: Accelerator;
  reason: string;
  /** How long the probe took, when there was one. */
  probeMs?: number;
  /** When the answer was remembered from an earlier probe (probe-memory.ts): that probe's time. */
  rememberedFrom?: string;
}

export interface ProbeOptions {
  /**
   * A bzImage to boot under KVM (the one the machine will boot). Without one (a netboot from elsewhere)
   * no probe runs: TCG, unless an earlier probe of this process found that KVM works.
   */
  kernel?: string;
  /** Default qemu-system-x86_64. */
  qemu?: string;
  /** Default /dev/kvm. */
  device?: string;
  /** How long a working KVM may take to boot the kernel to its panic (default 3 s; TCG needs about 2 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export const PROBE_CMDLINE =
  "console=ttyS0 earlyprintk=serial,ttyS0,115200 panic=-1 rdinit=/rootstock-kvm-probe init=/rootstock-kvm-probe root=/dev/rootstock-kvm-probe";

export const CANCELLED = "the KVM probe was cancelled";

export async function probeKvm(options: ProbeOptions & { kernel: string }): Promise<AcceleratorChoice> {
  const device = options.device ?? "/dev/kvm";
  const timeoutMs = options.timeoutMs ?? 3000;
  try {
    await access(device, constants.R_OK | constants.W_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return {
      accel: "tcg",
      reason:
        code === "ENOENT"
          ? `${device} does not exist (no KVM on this host)`
          : `${device} is not accessible (${code}); joining the kvm group would allow it`,
    };
  }
  const started = monotonicMs();
  const child = spawnTied(
    options.qemu ?? "qemu-system-x86_64",
    [
      "-accel",
      "kvm",
      "-cpu",
      "host",
      "-nodefaults",
      "-no-user-config",
      "-display",
      "none",
      "-m",
      "128M",
      "-no-reboot",
      "-serial",
      "stdio",
      "-kernel",
      options.kernel,
      "-append",
      PROBE_CMDLINE,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  let errors = "";
  child.stdout?.setEncoding("utf8");
  child.stderr?.setEncoding("utf8");
  return new Promise<AcceleratorChoice>((resolve) => {
    const elapsed = () => Math.round(monotonicMs() - started);
    let settled = false;
    const finish = (choice: AcceleratorChoice) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      // A guest stuck in KVM can only be killed; nothing waits for it to go.
      child.kill("SIGKILL");
      resolve({ ...choice, probeMs: elapsed() });
    };
    const timer = setTimeout(() => {
      const last = lastLine(output);
      finish({
        accel: "tcg",
        reason: `a kernel under KVM made no progress within ${(timeoutMs / 1000).toFixed(1)}s${last ? ` (last output: ${JSON.stringify(last)})` : " (no output)"}`,
      });
    }, timeoutMs);
    const onAbort = () => finish({ accel: "tcg", reason: CANCELLED });
    options.signal?.addEventListener("abort", onAbort, { once: true });
    child.stdout?.on("data", (text: string) => {
      output = (output + text).slice(-8192);
      if (/Kernel panic/.test(output)) {
        finish({ accel: "kvm", reason: `KVM booted the kernel to its first panic in ${elapsed()}ms` });
      }
    });
    child.stderr?.on("data", (text: string) => {
      errors = (errors + text).slice(-4096);
    });
    child.on("error", (error) =>
      finish({ accel: "tcg", reason: `cannot run the KVM probe: ${error.message}` }),
    );
    child.on("exit", (code, signal) => {
      if (settled) return;
      const why = lastLine(errors.replace(/^.*warning:.*$/gm, "")) || `exit status ${code ?? signal}`;
      finish({ accel: "tcg", reason: `QEMU with KVM failed: ${why}` });
    });
  });
}

function lastLine(text: string): string {
  return (
    text
      .split("\n")
      .map((line) => line.trim())
      .filter(Boolean)
      .at(-1) ?? ""
  );
}

const probes = new Map<string, Promise<AcceleratorChoice>>();

/**
 * `tcg` and `kvm` as asked (KVM must then pass the probe), `auto` by the probe. A probe runs once per
 * process for a given QEMU and device, and with `memoryFile` once per host boot and day (probe-memory.ts).
 */
export async function chooseAccelerator(
  requested: Accelerator | "auto",
  options: ProbeOptions & { memoryFile?: string },
): Promise<AcceleratorChoice> {
  if (requested === "tcg") return { accel: "tcg", reason: "TCG was asked for" };
  const cacheKey = `${options.qemu ?? ""}\0${options.device ?? ""}`;
  let probe = probes.get(cacheKey);
  const { kernel, memoryFile, ...rest } = options;
  if (!probe && kernel !== undefined) {
    const probeOptions = { ...rest, kernel };
    probe =
      memoryFile === undefined ? probeKvm(probeOptions) : rememberedProbe(probeOptions, { file: memoryFile });
    probes.set(cacheKey, probe);
  }
  // KVM may hang on this host and nothing can tell: the machine is not bet on it.
  const choice = probe
    ? await probe
    : { accel: "tcg" as const, reason: "there is no kernel to probe KVM with" };
  if (choice.reason === CANCELLED) probes.delete(cacheKey);
  if (requested === "kvm" && choice.accel !== "kvm") {
    throw new RootstockError("ERR_VM_KVM_UNAVAILABLE", `KVM was asked for, but ${choice.reason}`, {
      hint: "use --accel auto (or tcg) to fall back to emulation",
    });
  }
  return choice;
}
