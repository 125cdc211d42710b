/**
 * A person at the guest's serial console: bytes both ways between a terminal (in raw mode, set by the
 * caller) and the console socket, until the escape key (Ctrl-] by default, as telnet and virsh use), the
 * end of the input, or until the machine stops.
 */
import type { QemuVm } from "./qemu-vm.ts";

export const CTRL_RIGHT_BRACKET = 0x1d;

export interface AttachOptions {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  /** The byte that leaves the console (default Ctrl-], 0x1d). */
  escape?: number;
  signal?: AbortSignal;
}

/**
 * Resolves `detached` when the escape key is pressed or the input ends (nothing more can come from the
 * person), `exited` when QEMU ends.
 */
export function attachConsole(vm: QemuVm, options: AttachOptions): Promise<"detached" | "exited"> {
  const escapeKey = options.escape ?? CTRL_RIGHT_BRACKET;
  return new Promise((resolve) => {
    const offData = vm.console.onData((chunk) => options.output.write(chunk));
    const finish = (how: "detached" | "exited") => {
      offData();
      options.input.off("data", onInput);
      options.input.off("end", onEnd);
      options.signal?.removeEventListener("abort", onAbort);
      resolve(how);
    };
    const onInput = (chunk: Buffer | string) => {
      const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      const at = bytes.indexOf(escapeKey);
      if (at < 0) {
        vm.console.write(bytes);
        return;
      }
      if (at > 0) vm.console.write(bytes.subarray(0, at));
      finish("detached");
    };
    const onAbort = () => finish("detached");
    const onEnd = () => finish("detached");
    options.input.on("data", onInput);
    options.input.on("end", onEnd);
    options.signal?.addEventListener("abort", onAbort, { once: true });
    vm.exited.then(() => finish("exited"));
  });
}
