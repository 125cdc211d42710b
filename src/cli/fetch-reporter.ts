/**
 * Renders fetch events. On a terminal: one status line redrawn in place with every download's
 * progress, and a permanent line per finished file or failed attempt. Elsewhere (a pipe, CI): plain
 * lines only, one per event that matters.
 */
import type { RootstockEvent } from "../events.ts";
import { formatBytes } from "../units.ts";
import type { CliContext } from "./context.ts";
import { lineFitter } from "./fit-line.ts";

interface Active {
  file: string;
  received: number;
  total?: number;
  /** When and where this attempt started, for its rate. */
  startedAt: number;
  startedWith: number;
}

const REDRAW_MS = 100;

export interface FetchReporter {
  emit(event: RootstockEvent): void;
  /** Clears the status line; call once fetching is over, whether it worked or not. */
  finish(): void;
}

export function createFetchReporter(context: CliContext): FetchReporter {
  const live = context.isTerminal;
  const fit = lineFitter(live);
  const active = new Map<string, Active>();
  const substitutes = new Map<string, { version: string; file: string | undefined }>();
  let statusShown = false;
  let lastDraw = 0;
  let done = 0;
  let missing = 0;

  const clear = () => {
    if (statusShown) context.stdout.write("\r\x1b[K");
    statusShown = false;
  };
  const line = (text: string) => {
    clear();
    context.out(text);
  };
  const draw = (force = false) => {
    if (!live || active.size === 0) return;
    const now = Date.now();
    if (!force && now - lastDraw < REDRAW_MS) return;
    lastDraw = now;
    const width = (context.stdout as NodeJS.WriteStream).columns || 100;
    const parts = [...active.values()].map((item) => {
      const seconds = (now - item.startedAt) / 1000;
      const rate = seconds > 0.5 ? ` ${formatBytes((item.received - item.startedWith) / seconds)}/s` : "";
      const amount = item.total
        ? `${Math.floor((item.received / item.total) * 100)}% of ${formatBytes(item.total)}`
        : formatBytes(item.received);
      return `${item.file} ${amount}${rate}`;
    });
    const text = `fetching (${done} of ${missing} done) ${parts.join(" · ")}`;
    context.stdout.write(`\r\x1b[K${fit(text, width - 1)}`);
    statusShown = true;
  };

  return {
    emit(event) {
      switch (event.type) {
        case "fetch:plan":
          missing = event.missing;
          if (event.missing === 0) line(`fetch: all ${event.present} source(s) present`);
          else {
            // Sizes are optional in a pin: a sum of some of them is said to be so.
            const unsized = event.unsized ?? 0;
            const size =
              event.bytes === 0
                ? ""
                : unsized === 0
                  ? ` (${formatBytes(event.bytes)} pinned)`
                  : ` (${formatBytes(event.bytes)} pinned for ${event.missing - unsized} of them; the others pin no size)`;
            line(`fetch: ${event.missing} to fetch${size}, ${event.present} present`);
          }
          break;
        case "fetch:start":
          active.set(event.sha256, {
            file: event.file,
            received: event.resumeAt,
            startedAt: Date.now(),
            startedWith: event.resumeAt,
            ...(event.size === undefined ? {} : { total: event.size }),
          });
          if (!live || event.resumeAt > 0) {
            const resume = event.resumeAt > 0 ? ` (resuming at ${formatBytes(event.resumeAt)})` : "";
            line(`  ${context.style("dim", "get")}  ${event.file} from ${event.from}${resume}`);
          }
          draw(true);
          break;
        case "fetch:progress": {
          const item = active.get(event.sha256);
          if (item) {
            item.received = event.received;
            if (event.total !== undefined) item.total = event.total;
          }
          draw();
          break;
        }
        case "fetch:attempt-failed":
          active.delete(event.sha256);
          // A folder without the file is a place to look, not a failure; the error lists it if all fail.
          // Another place (Debian's archive, a mirror) may still have it: "tried", not "fail".
          if (!event.missing)
            line(`  ${context.style("yellow", "tried")} ${event.file}: ${event.reason.split("\n")[0]}`);
          draw(true);
          break;
        case "fetch:waiting":
          line(
            `  ${context.style("dim", "wait")} ${event.file}: another rootstock${event.pid === undefined ? "" : ` (pid ${event.pid})`} is downloading it`,
          );
          break;
        case "fetch:quarantined":
          line(`  ${context.style("yellow", "kept")} ${event.file}: wrong content, kept at ${event.path}`);
          break;
        case "fetch:substitute":
          substitutes.set(event.sha256, { version: event.used, file: event.usedFile });
          if (event.pinned !== event.used)
            line(
              `  ${context.style("cyan", "note")} ${event.file}: Debian ${event.package} ${event.pinned} is gone; ${event.used} carries the same file`,
            );
          if (event.usedFile !== undefined)
            line(
              `  ${context.style("cyan", "note")} ${event.file}: Debian ${event.package} ${event.used} has no file ${event.pinnedFile}; its ${event.usedFile} has the pinned sha256 (set file = "${event.usedFile}" in the pin)`,
            );
          break;
        case "fetch:done": {
          active.delete(event.sha256);
          done++;
          // The Debian version that gave the file, when it was not the pinned one.
          const used = substitutes.get(event.sha256);
          const from =
            used === undefined
              ? event.from
              : `${event.from.replace(/=[^/]*\/.*$/, `=${used.version}/${used.file ?? event.from.replace(/^.*\//, "")}`)} (pinned: ${event.from})`;
          line(
            `  ${context.style("green", "ok")}   ${event.file} ${context.style("dim", `${formatBytes(event.bytes)} in ${(event.ms / 1000).toFixed(1)} s from ${from}`)}`,
          );
          draw(true);
          break;
        }
        default:
          break;
      }
    },
    finish: clear,
  };
}
