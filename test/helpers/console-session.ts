/**
 * The CLI in a child process with standard input kept open, for commands a person talks to (`rootstock
 * boot`): wait for output, type, and collect how it ended. A session still running when the test ends
 * is killed (`endSessions`), so that no rootstock or QEMU outlives a failed test.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { ROOTSTOCK } from "./rootstock-process.ts";

export interface Ended {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface ConsoleSession {
  child: ChildProcess;
  /** Resolves with the output so far once it matches `pattern` (after what earlier waits matched). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  type(text: string): void;
  ended: Promise<Ended>;
}

const sessions = new Set<ChildProcess>();

export function consoleSession(args: readonly string[], env: NodeJS.ProcessEnv = {}): ConsoleSession {
  const child = spawn(process.execPath, [ROOTSTOCK, ...args], {
    env: { ...process.env, CI: "1", NO_COLOR: "1", ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  sessions.add(child);
  let stdout = "";
  let stderr = "";
  let cursor = 0;
  const waiters = new Set<() => void>();
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
    for (const waiter of waiters) waiter();
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const ended = new Promise<Ended>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      sessions.delete(child);
      for (const waiter of waiters) waiter();
      resolve({ code, stdout, stderr });
    });
  });
  return {
    child,
    ended,
    waitFor(pattern, timeoutMs = 120_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const rest = stdout.slice(cursor);
          const match = pattern.exec(rest);
          if (match) {
            done();
            cursor += match.index + match[0].length;
            resolve(stdout);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            done();
            reject(new Error(`rootstock ended before printing ${pattern}:\n${stdout}\n${stderr}`));
          }
        };
        // A limit only for a broken guest, so that the test fails with what was printed instead of hanging.
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no ${pattern} within ${timeoutMs / 1000}s:\n${stdout}\n${stderr}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    type(text) {
      child.stdin?.write(text);
    },
  };
}

/** Kills every session still running and waits for it to go. */
export async function endSessions(): Promise<void> {
  await Promise.all(
    [...sessions].map(
      (child) =>
        new Promise<void>((resolve) => {
          child.once("close", () => resolve());
          child.kill("SIGKILL");
        }),
    ),
  );
}
