/** Reads a run journal (JSON lines). A run killed mid-write leaves a torn last line: it is skipped. */
import type { TimedEvent } from "../events.ts";
import { JOURNAL_FILE } from "../store/run-record.ts";

const { readFileSync } = process.getBuiltinModule("node:fs");
const { readdir, stat } = process.getBuiltinModule("node:fs/promises");
const { join } = process.getBuiltinModule("node:path");

/** Synchronous: one small file, read as a run ends, when nothing else waits. */
export function readJournal(runDir: string): TimedEvent[] {
  return readJournalLines(runDir).events;
}

/**
 * The events, and the numbers of the lines that are none: damage, but for a last line torn by a kill
 * (or being written now), which is left out of `damaged`.
 */
export function readJournalLines(runDir: string): { events: TimedEvent[]; damaged: number[] } {
  const text = readFileSync(join(runDir, JOURNAL_FILE), "utf8");
  const events: TimedEvent[] = [];
  const damaged: number[] = [];
  const lines = text.split("\n");
  const last = lines.findLastIndex((line) => line.trim() !== "");
  for (const [index, line] of lines.entries()) {
    if (line.trim() === "") continue;
    const before = events.length;
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
    if (events.length === before && index !== last) damaged.push(index + 1);
  }
  return { events, damaged };
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
