/** Reads a run journal (JSON lines). A run killed mid-write leaves a torn last line: it is skipped. */
import type { TimedEvent } from "../events.ts";
import { JOURNAL_FILE } from "../store/run-record.ts";

const { readFileSync } = process.getBuiltinModule("node:fs");
const { readdir, stat } = process.getBuiltinModule("node:fs/promises");
const { join } = process.getBuiltinModule("node:path");

/** Synchronous: one small file, read as a run ends, when nothing else waits. */
export function readJournal(runDir: string): TimedEvent[] {
  const text = readFileSync(join(runDir, JOURNAL_FILE), "utf8");
  const events: TimedEvent[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    try {
      const event = JSON.parse(line) as TimedEvent;
      // A line damaged into another shape is no event: the rest of the journal still tells the run.
      if (
        typeof event === "object" &&
        event !== null &&
        typeof event.type === "string" &&
        typeof event.time === "number"
      )
        events.push(event);
    } catch {
      // Only the last line can be torn; anything after it would be a second writer, which never happens.
    }
  }
  return events;
}

/**
 * When a killed run last did something: its journal holds only events, and a step can work for hours
 * between two of them, writing only its log.
 */
export async function lastSignOfLife(runDir: string): Promise<number> {
  const logs = await readdir(join(runDir, "logs")).catch(() => [] as string[]);
  const files = [join(runDir, "journal.jsonl"), ...logs.map((log) => join(runDir, "logs", log))];
  const times = await Promise.all(
    files.map((file) =>
      stat(file).then(
        (info) => info.mtimeMs,
        () => 0,
      ),
    ),
  );
  return Math.max(0, ...times);
}
