/** Reads a run journal (JSON lines). A run killed mid-write leaves a torn last line: it is skipped. */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { TimedEvent } from "../events.ts";

export const JOURNAL_FILE = "journal.jsonl";

export async function readJournal(runDir: string): Promise<TimedEvent[]> {
  const text = await readFile(join(runDir, JOURNAL_FILE), "utf8");
  const events: TimedEvent[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    try {
      events.push(JSON.parse(line) as TimedEvent);
    } catch {
      // Only the last line can be torn; anything after it would be a second writer, which never happens.
    }
  }
  return events;
}
