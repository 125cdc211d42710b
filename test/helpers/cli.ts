/** Runs the CLI in-process with captured output, as a user would see it. */
import { Writable } from "node:stream";
import { CliContext } from "../../src/cli/context.ts";
import { main } from "../../src/cli/main.ts";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Collects what a command writes to one of its streams. */
export class Capture extends Writable {
  text = "";
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString();
    callback();
  }
}

export async function runCli(args: string[]): Promise<CliResult> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await main(["--no-color", ...args], new CliContext(stdout, stderr));
  // The status is the command's, returned here; left set, it would end the test process with it.
  process.exitCode = undefined;
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** A stack trace line, as Node prints them. */
export const STACK_LINE = /^\s+at .+(\(|:\d+:\d+)/m;
