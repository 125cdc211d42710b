/**
 * A suffix that makes a staged file's name unique among the processes writing one folder: the pid tells
 * processes apart, the counter one process's calls, and random bits processes in other PID namespaces
 * that share a store. Not node:crypto, whose loading alone is a tenth of a no-op run.
 */
let counter = 0;

export function uniqueSuffix(): string {
  counter += 1;
  const random = Math.floor(Math.random() * 0x1_0000_0000)
    .toString(16)
    .padStart(8, "0");
  return `${process.pid.toString(36)}-${counter.toString(36)}-${random}`;
}

/** The process that made a name ending in NAME.SUFFIX by uniqueSuffix() (its pid is in base 36). */
export function suffixOwner(name: string): number | undefined {
  const match = /\.([0-9a-z]+)-[0-9a-z]+-[0-9a-f]{8}(\.tmp)?$/.exec(name);
  const pid = match ? Number.parseInt(match[1] as string, 36) : Number.NaN;
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

/** Whether a process with this pid exists (one of another user's counts). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
