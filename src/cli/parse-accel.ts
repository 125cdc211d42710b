import { RootstockError } from "../errors.ts";
import type { Accelerator } from "../vm/qemu-args.ts";

/** Parses `--accel`: auto, kvm or tcg. */
export function parseAccel(value: string | undefined): Accelerator | "auto" | undefined {
  if (value === undefined) return undefined;
  if (value === "auto" || value === "kvm" || value === "tcg") return value;
  throw new RootstockError(
    "ERR_CLI_BAD_ACCEL",
    `--accel ${JSON.stringify(value)}: expected auto, kvm or tcg`,
    {
      hint: "auto uses KVM when a short probe shows that it works, and TCG (emulation) otherwise",
    },
  );
}
