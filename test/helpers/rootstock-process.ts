/** Runs the real rootstock command line in a child process. */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const ROOTSTOCK = fileURLToPath(new URL("../../bin/rootstock.js", import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function startRootstock(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; input?: string; command?: string[] } = {},
): ChildProcess {
  const [file, ...prefix] = options.command ?? [process.execPath];
  const child = spawn(file as string, [...prefix, ROOTSTOCK, ...args], {
    env: { ...process.env, CI: "1", NO_COLOR: "1", ...options.env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  child.stdin?.end(options.input ?? "");
  return child;
}

export function rootstock(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; input?: string; command?: string[] } = {},
): Promise<CliResult> {
  const child = startRootstock(args, options);
  return finished(child);
}

export function finished(child: ChildProcess): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Resolves once the child has printed `text` on its standard output, or has ended. */
/** Resolves with what the child printed once it has printed `text`; rejects if it ends first. */
export function untilPrinted(child: ChildProcess, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = "";
    child.stdout?.on("data", (chunk: Buffer | string) => {
      seen += chunk.toString();
      if (seen.includes(text)) resolve(seen);
    });
    child.on("close", () => reject(new Error(`the command ended before it printed ${text}:\n${seen}`)));
  });
}

export function untilOutput(child: ChildProcess, text: string): Promise<void> {
  return new Promise((resolve) => {
    let seen = "";
    child.stdout?.on("data", (chunk: Buffer | string) => {
      seen += chunk.toString();
      if (seen.includes(text)) resolve();
    });
    child.on("close", () => resolve());
  });
}
