/** Runs a host tool to completion, capturing its output; a failure names the tool and shows its last words. */
import { RootstockError } from "../errors.ts";
import { spawnTied } from "../vm/process-reaper.ts";
import { hostPath } from "./doctor.ts";

const { open } = process.getBuiltinModule("node:fs/promises");

export interface RunCommandOptions {
  cwd?: string;
  /** Added to the environment (which also gets the sbin folders on PATH). */
  env?: Record<string, string>;
  /** Written to the tool's standard input. */
  input?: string | Buffer;
  /** A file to read standard input from instead. */
  stdinFile?: string;
  /** A file that receives standard output (created or truncated) instead of capturing it. */
  stdoutFile?: string;
  signal?: AbortSignal;
  /** Error code when the tool fails (default ERR_HOST_COMMAND_FAILED). */
  code?: `ERR_${string}`;
  /** What the tool was doing, for the message ("building the ext4 image app"). */
  what?: string;
  hint?: string;
}

export interface CommandResult {
  stdout: string;
  stderr: string;
}

export async function runCommand(
  command: string,
  args: readonly string[],
  options: RunCommandOptions = {},
): Promise<CommandResult> {
  const stdin = options.stdinFile === undefined ? undefined : await open(options.stdinFile, "r");
  const stdoutFile = options.stdoutFile === undefined ? undefined : await open(options.stdoutFile, "w");
  try {
    return await run(command, args, options, stdin?.fd, stdoutFile?.fd);
  } finally {
    await stdin?.close();
    await stdoutFile?.close();
  }
}

function run(
  command: string,
  args: readonly string[],
  options: RunCommandOptions,
  stdinFd: number | undefined,
  stdoutFd: number | undefined,
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    // Tied to rootstock's life: a kill -9 of rootstock must not leave mksquashfs or xz running on.
    const child = spawnTied(command, args, {
      cwd: options.cwd,
      env: { ...process.env, PATH: hostPath(), LC_ALL: "C", ...options.env },
      stdio: [stdinFd ?? "pipe", stdoutFd ?? "pipe", "pipe"],
      signal: options.signal,
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout?.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on("data", (chunk: Buffer) => stderr.push(chunk));
    if (child.stdin) {
      // A tool that exits without reading all of its input is not an error of ours.
      child.stdin.on("error", () => {});
      child.stdin.end(options.input ?? "");
    }
    const what = options.what ? ` (${options.what})` : "";
    child.on("error", (error: NodeJS.ErrnoException) => {
      if (error.name === "AbortError") {
        reject(options.signal?.reason ?? error);
        return;
      }
      reject(
        new RootstockError(
          error.code === "ENOENT" ? "ERR_HOST_TOOL_MISSING" : (options.code ?? "ERR_HOST_COMMAND_FAILED"),
          `cannot run ${command}${what}: ${error.message}`,
          { hint: "run `rootstock doctor` to see which host tools are missing and how to install them" },
        ),
      );
    });
    child.on("close", (status, signal) => {
      const out = Buffer.concat(stdout).toString();
      const err = Buffer.concat(stderr).toString();
      if (status === 0) {
        resolve({ stdout: out, stderr: err });
        return;
      }
      // Started through setpriv, a missing tool is setpriv's exit status 127, not a spawn error.
      if (status === 127 && /^setpriv: failed to execute/m.test(err)) {
        reject(
          new RootstockError(
            "ERR_HOST_TOOL_MISSING",
            `cannot run ${command}${what}: it is not on this host's PATH`,
            {
              hint: "run `rootstock doctor` to see which host tools are missing and how to install them",
            },
          ),
        );
        return;
      }
      const last = (err.trim() || out.trim()).split("\n").slice(-12).join("\n");
      const how = signal ? `was killed by ${signal}` : `exited with status ${status}`;
      reject(
        new RootstockError(
          options.code ?? "ERR_HOST_COMMAND_FAILED",
          `${command}${what} ${how}${last ? `:\n${last}` : ""}`,
          options.hint === undefined ? {} : { hint: options.hint },
        ),
      );
    });
  });
}
