/** A CLI context whose standard output is kept as text, for reporter tests. */
import { PassThrough } from "node:stream";
import { CliContext } from "../../src/cli/context.ts";
import type { RootstockEvent, TimedEvent } from "../../src/events.ts";

export function capture(): { context: CliContext; text: () => string } {
  const stdout = new PassThrough();
  let text = "";
  stdout.on("data", (chunk: Buffer) => {
    text += chunk.toString();
  });
  return { context: new CliContext(stdout, new PassThrough()), text: () => text };
}

export const at = (time: number, event: RootstockEvent): TimedEvent => ({ ...event, time });
