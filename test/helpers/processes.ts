/** Processes of the machine, found by their command lines: what a test leaves running. */
import { readFileSync } from "node:fs";
import { processTree } from "../../src/build/process-tree.ts";

/** Live processes whose command line contains every one of `parts`. */
export function processesNaming(...parts: string[]): number[] {
  return [...processTree(1).keys()].filter((pid) => {
    try {
      const command = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      return parts.every((part) => command.includes(part));
    } catch {
      return false;
    }
  });
}
