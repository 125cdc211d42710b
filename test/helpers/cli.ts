/** Runs the rootstock CLI in this process with captured output, as a user would call it. */
import { Writable } from "node:stream";
import { CliContext } from "../../src/cli/context.ts";
import { main } from "../../src/cli/main.ts";

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

function sink(): { stream: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(Buffer.from(chunk));
      done();
    },
  });
  return { stream, text: () => Buffer.concat(chunks).toString("utf8") };
}

export async function runCli(args: readonly string[]): Promise<CliRun> {
  const out = sink();
  const err = sink();
  const saved = process.exitCode;
  process.exitCode = undefined;
  try {
    const code = await main(["--no-color", ...args], new CliContext(out.stream, err.stream));
    return { code, stdout: out.text(), stderr: err.text() };
  } finally {
    // Commands report failure through process.exitCode; it must not leak into the test runner.
    process.exitCode = saved;
  }
}
