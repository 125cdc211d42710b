/** Reads a run journal (JSON lines). A run killed mid-write leaves a torn last line: it is skipped. */
import type { TimedEvent } from "../events.ts";
import { JOURNAL_FILE } from "../store/run-record.ts";

const { readFileSync } = process.getBuiltinModule("node:fs");
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
