/**
 * What a person sees of images, machines and boot tests. On a terminal: a line per image and per test
 * result, and a status line redrawn in place for what is running (the test and its elapsed time).
 * Elsewhere (a pipe, a file, CI): plain lines only, a start line too, so that a log shows what hung.
 */

import type { Listener, TimedEvent } from "../events.ts";
import { moduleStem } from "../report/model.ts";
import { formatBytes, formatDuration, printableLine, visibleText } from "../units.ts";
import type { CliContext } from "./context.ts";
import { lineFitter } from "./fit-line.ts";

const { existsSync } = process.getBuiltinModule("node:fs");

export interface CheckReporterOptions {
  /** Redraw a status line in place (a terminal that is not CI). */
  live: boolean;
  /** Redraws per second of the status line (default 4). */
  refreshHz?: number;
  /** Lines of a failure's message shown (default 20). */
  errorLines?: number;
}

export interface CheckReporter {
  listener: Listener;
  stop(): void;
}

export function createCheckReporter(context: CliContext, options: CheckReporterOptions): CheckReporter {
  // What runs now (test machines run side by side), by key: its label and since when.
  const running = new Map<string, { label: string; since: number }>();
  let statusShown = false;
  let lastAccel = "";
  const columns = () => (context.stdout as NodeJS.WriteStream).columns || 100;
  const fit = lineFitter(options.live);

  const clearStatus = () => {
    if (statusShown) context.stdout.write("\r\x1b[K");
    statusShown = false;
  };
  const drawStatus = () => {
    if (!options.live || running.size === 0) return;
    const line = [...running.values()]
      .map((item) => `▶ ${item.label} ${formatDuration(Date.now() - item.since)}`)
      .join("  ");
    context.stdout.write(`\r\x1b[K${context.style("dim", fit(line, columns() - 1))}`);
    statusShown = true;
  };
  const print = (line: string) => {
    clearStatus();
    context.out(line);
    drawStatus();
  };
  const start = (key: string, label: string, since: number) => {
    running.set(key, { label, since });
    if (options.live) drawStatus();
    else print(`▶ ${label}`);
  };
  const timer = options.live ? setInterval(drawStatus, 1000 / (options.refreshHz ?? 4)) : undefined;
  timer?.unref();

  const listener = (event: TimedEvent) => {
    switch (event.type) {
      case "image:start":
        start(`image ${event.image}`, `image ${event.image} (${event.kind})`, event.time);
        break;
      case "image:waiting":
        print(`${context.style("yellow", "…")} image ${event.image} waits: ${event.reason}`);
        break;
      case "image:cached":
        print(
          `${context.style("dim", "·")} image ${event.image.padEnd(16)} ${context.style("dim", "cached")}  ${event.kind}, ${formatBytes(event.bytes)}`,
        );
        break;
      case "image:done":
        running.delete(`image ${event.image}`);
        print(
          `${context.style("green", "✓")} image ${event.image.padEnd(16)} ${formatDuration(event.ms).padStart(7)}  ${formatBytes(event.bytes)}`,
        );
        break;
      case "image:failed":
        running.delete(`image ${event.image}`);
        // Errors about an image mostly name it already.
        print(
          event.interrupted
            ? `${context.style(["bold", "yellow"], "■")} image ${event.image} interrupted`
            : `${context.style(["bold", "red"], "✗")} image ${event.image}: ${visibleText(event.error.replace(`image ${event.image}: `, ""))}`,
        );
        break;
      case "vm:accel": {
        // Every machine chooses; say it once unless the choice changes.
        const said = `${event.accel}\0${event.reason}`;
        if (said === lastAccel) break;
        lastAccel = said;
        print(context.style("dim", `  machines run under ${event.accel.toUpperCase()}: ${event.reason}`));
        break;
      }
      case "test:start":
        start(testLabel(event), testLabel(event), event.time);
        break;
      case "test:done": {
        running.delete(testLabel(event));
        const mark = event.ok ? context.style("green", "✓") : context.style(["bold", "red"], "✗");
        print(`${mark} ${testLabel(event).padEnd(40)} ${formatDuration(event.ms).padStart(7)}`);
        if (!event.ok) {
          clearStatus();
          // The first line says what failed; its end is where the cause is (the console's last lines, the
          // hint): a long error keeps both and leaves out the middle.
          const lines = (event.error ?? "").split("\n");
          // Room for an error's own cut (a command's last 20 lines, a console's last 30) and its hint.
          const shown = Math.max(2, options.errorLines ?? 40);
          const kept =
            lines.length <= shown
              ? lines
              : [lines[0] ?? "", `… ${lines.length - shown} lines left out`, ...lines.slice(-(shown - 1))];
          for (const line of kept) context.out(context.style("dim", `    │ ${printableLine(line)}`));
          // A machine that never started (KVM asked for and missing) wrote no console log.
          if (event.consoleLog && existsSync(event.consoleLog))
            context.out(`    console: ${event.consoleLog}`);
        }
        break;
      }
      case "test:skipped":
        print(`${context.style("dim", "-")} ${testLabel(event)} skipped: ${event.reason}`);
        break;
      case "test:summary": {
        running.clear();
        clearStatus();
        const parts = [`${event.passed} passed`];
        if (event.failed > 0) parts.push(`${event.failed} failed`);
        if (event.skipped > 0) parts.push(`${event.skipped} skipped`);
        const verdict = event.ok
          ? context.style("green", "ok")
          : event.interrupted
            ? context.style("yellow", "interrupted")
            : context.style("red", "failed");
        context.out(`tests ${verdict}: ${parts.join(", ")} in ${formatDuration(event.ms)}`);
        break;
      }
      default:
        break;
    }
  };
  return {
    listener,
    stop() {
      if (timer) clearInterval(timer);
      clearStatus();
    },
  };
}

/** `image boot › test`: the module by its file's stem, as its machine's folder is named. */
export function testLabel(event: { image: string; module: string; test: string }): string {
  // A test's name is the module's text: nothing in it may drive the terminal.
  return printableLine(`${event.image} ${moduleStem(event.module)} › ${event.test}`);
}
