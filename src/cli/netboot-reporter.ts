/**
 * What a person sees of `rootstock netboot` besides the build: the images and the bundle as they are
 * made, then one line per request the server answers (a log to watch a machine boot by).
 */
import type { Listener } from "../events.ts";
import { formatBytes, formatDuration } from "../units.ts";
import type { CliContext } from "./context.ts";

export function createNetbootReporter(context: CliContext): Listener {
  return (event) => {
    switch (event.type) {
      case "image:cached":
        context.out(`${context.style("dim", "=")} image ${event.image} (cached)`);
        break;
      case "image:done":
        context.out(
          `${context.style("green", "✓")} image ${event.image.padEnd(14)} ${formatDuration(event.ms).padStart(7)}  ${formatBytes(event.bytes)}`,
        );
        break;
      case "netboot:bundle":
        context.out(
          `${context.style("green", "✓")} bundle ${event.key.slice(0, 16)} of image ${event.image}: ${formatBytes(event.bytes)}${event.cached ? " (cached)" : ""}`,
        );
        if (event.appletsUnchecked)
          context.out(`  ${context.style("yellow", "note")} ${event.appletsUnchecked}`);
        break;
      case "netboot:request": {
        const status =
          event.status >= 400 ? context.style("red", String(event.status)) : String(event.status);
        const range = event.range === undefined ? "" : ` ${event.range}`;
        const cut = event.complete ? "" : context.style("yellow", " (cut short)");
        const note = event.note === undefined ? "" : ` — ${event.note}`;
        context.out(
          `${event.remote} ${event.method} ${event.path} ${status} ${formatBytes(event.bytes)}${range} ${event.ms} ms${cut}${note}`,
        );
        break;
      }
      default:
        break;
    }
  };
}
