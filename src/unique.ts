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
