/**
 * report.html: one self-contained page (no scripts, no external files) — a summary, a timeline of steps
 * in worker lanes with cache hits and the critical path marked, per-step durations with links to logs,
 * and test results with console excerpts.
 */
import { formatBytes, formatDuration, printableLine } from "../units.ts";
import {
  type ImageRecord,
  imageOutcome,
  obtainedText,
  type RunReport,
  runRelative,
  type StepRecord,
  sourcesOf,
  testCounts,
  testTitle,
} from "./model.ts";

export interface HtmlOptions {
  /** Last lines of each machine's console log, by machine name. */
  consoleExcerpts?: ReadonlyMap<string, string[]>;
}

const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" };

/** Most texts (step names, times) need no escaping: one test, no copy. */
const escapeHtml = (text: string) =>
  /[&<>"]/.test(text) ? text.replace(/[&<>"]/g, (char) => ENTITIES[char] as string) : text;

export function renderHtml(report: RunReport, options: HtmlOptions = {}): string {
  const context = report.context;
  const title = `${context?.plan.name ?? "run"} — rootstock report`;
  const status = report.running
    ? "running"
    : report.unfinished
      ? "unfinished"
      : report.ok
        ? "passed"
        : report.interrupted
          ? "interrupted"
          : "failed";
  const built = report.steps.filter((step) => step.status === "built").length;
  const cached = report.steps.filter((step) => step.status === "cached").length;
  const failed = report.steps.filter((step) => step.status === "failed").length;
  const stopped = report.steps.filter((step) => step.status === "interrupted").length;
  const notRun = report.steps.filter(
    (step) => step.status === "not-run" || step.status === "unfinished",
  ).length;
  const tests = testCounts(report.tests);
  const cards = [
    ["Result", status.toUpperCase(), status],
    [
      "Wall time",
      `${report.totalAtLeast ? "≥ " : ""}${formatDuration(report.totalMs)}${report.running ? " so far" : ""}`,
      "",
    ],
    [
      "Steps",
      `${built} built · ${cached} cached${failed ? ` · ${failed} failed` : ""}${stopped ? ` · ${stopped} interrupted` : ""}${notRun ? ` · ${notRun} not run` : ""}`,
      failed ? "failed" : "",
    ],
    [
      "Boot tests",
      report.tests.length
        ? `${tests.passed} / ${report.tests.length} passed${tests.skipped ? ` · ${tests.skipped} skipped` : ""}`
        : "none",
      tests.failed > 0 ? "failed" : "",
    ],
    [
      "Critical path",
      report.criticalPath.length && !report.unfinished ? formatDuration(report.criticalMs) : "—",
      "",
    ],
    ["QEMU", report.accel ? report.accel.accel.toUpperCase() : "—", ""],
  ];
  const host = context?.host;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
  <h1>${escapeHtml(context?.plan.name ?? "rootstock run")} <span class="badge ${status}">${status}</span></h1>
  <p class="sub">${escapeHtml(printableLine(context?.plan.description?.replace(/\s+/g, " ") ?? ""))}</p>
  <p class="meta">Run <code>${escapeHtml(report.runId)}</code> · ${escapeHtml(new Date(report.started).toISOString().replace("T", " ").slice(0, 19))} UTC${
    host ? ` · ${escapeHtml(host.cpu)}, ${host.cores} cores` : ""
  }${context ? ` · ${escapeHtml(context.plan.arch)}` : ""}</p>
</header>
<section class="cards">
${cards.map(([label, value, tone]) => `  <div class="card ${tone}"><div class="label">${escapeHtml(label as string)}</div><div class="value">${escapeHtml(value as string)}</div></div>`).join("\n")}
</section>
<section>
  <h2>Timeline</h2>
  ${timeline(report)}
  <p class="legend"><span class="swatch sw-built"></span> built <span class="swatch sw-failed"></span> failed <span class="swatch sw-cached"></span> from cache <span class="swatch sw-critical"></span> critical path <span class="swatch sw-image"></span> image <span class="swatch sw-test"></span> boot test</p>
</section>
${errorSection(report)}<section>
  <h2>Steps</h2>
  ${stepsTable(report)}
</section>
${testsSection(report, options)}
<section>
  <h2>Binary seeds</h2>
  <p>The host tools the plan declares, which its steps' keys cover. A step with a host root also sees the rest of the host's /usr: a command it runs undeclared is trusted without being named here.</p>
  ${seedsTable(report.context?.seeds ?? [])}
</section>
${
  report.toolsRun.length === 0
    ? ""
    : `<section>
  <h2>Tools rootstock ran</h2>
  <p>Run by rootstock itself: on the sources (unpacking, patching), around the steps (the sandbox), on the images and to boot them. No step's key names them; an image's key names the tools that write it.</p>
  ${seedsTable(report.toolsRun, "tool")}
</section>
`
}<section>
  <h2>Sources</h2>
  <p>The files the plan pins for these steps by sha256, each checked against its pin as it enters the store. A step's script, patches and files/ are the plan's own, covered by its key.</p>
  ${sourcesTable(report)}
</section>
<footer>Generated by rootstock ${escapeHtml(context?.rootstock.version ?? "")}${context?.rootstock.revision ? ` (${escapeHtml(context.rootstock.revision)})` : ""} from the run journal.</footer>
</body>
</html>
`;
}

/** What stopped the run besides its steps and tests, as the terminal said it. */
function errorSection(report: RunReport): string {
  const error = report.error;
  if (!error) return "";
  const [headline = "", ...rest] = error.message.split("\n");
  const lines = [...rest, ...(error.details ?? []), ...(error.hint ? [`hint: ${error.hint}`] : [])].filter(
    (line) => line.trim() !== "",
  );
  return `<section>
  <h2>Why the run stopped</h2>
  <p class="error">${escapeHtml(printableLine(headline))} <code>${escapeHtml(error.code)}</code></p>
${
  lines.length > 0
    ? `  <pre>${escapeHtml(
        lines
          .flatMap((line) => line.split("\n"))
          .map(printableLine)
          .join("\n"),
      )}</pre>\n`
    : ""
}</section>
`;
}

function timeline(report: RunReport): string {
  const bars = report.steps.filter((step) => step.start !== undefined && step.status !== "cached");
  const cachedSteps = report.steps.filter((step) => step.status === "cached");
  const end = Math.max(
    report.totalMs,
    1,
    ...bars.map((step) => step.end ?? 0),
    ...report.tests.map((test) => (test.start ?? 0) + test.ms),
    ...report.images.map((image) => (image.start ?? 0) + image.ms),
  );
  const workers = [...new Set(bars.map((step) => step.worker ?? 0))].sort((a, b) => a - b);
  const critical = new Set(report.criticalPath);
  const lanes: { label: string; items: string[] }[] = workers.map((worker) => ({
    label: `worker ${worker + 1}`,
    items: [],
  }));
  const width = 1000;
  const left = 90;
  const scale = (ms: number) => left + (ms / end) * (width - left - 10);
  const laneHeight = 30;

  for (const step of bars) {
    const lane = workers.indexOf(step.worker ?? 0);
    const x = scale(step.start as number);
    const w = Math.max(2, scale(step.end ?? step.start ?? 0) - x);
    const classes = [step.status, critical.has(step.name) ? "critical" : ""].join(" ").trim();
    const label =
      w > 8 * step.name.length
        ? `<text x="${(x + 4).toFixed(1)}" y="${lane * laneHeight + 19}">${escapeHtml(step.name)}</text>`
        : "";
    (lanes[lane] as { items: string[] }).items.push(
      `<g><title>${escapeHtml(`${step.name}: ${step.status} in ${formatDuration(step.ms)}${critical.has(step.name) ? " (critical path)" : ""}`)}</title><rect class="${classes}" x="${x.toFixed(1)}" y="${lane * laneHeight + 5}" width="${w.toFixed(1)}" height="${laneHeight - 10}" rx="3"></rect>${label}</g>`,
    );
  }
  const extra: { label: string; items: string[] }[] = [];
  if (cachedSteps.length > 0) {
    const row = lanes.length + extra.length;
    // One mark per step, narrowed so that even a plan of hundreds of steps fits the lane.
    const pitch = Math.min(14, (width - left - 14) / cachedSteps.length);
    const markWidth = Math.max(0.5, pitch * (10 / 14)).toFixed(1);
    const y = row * laneHeight + 9;
    const corner = pitch >= 6 ? 2 : 0;
    extra.push({
      label: "cache",
      items: cachedSteps.map((step, index) => {
        const x = (left + 4 + index * pitch).toFixed(1);
        return `<g><title>${escapeHtml(step.name)}: from the cache</title><rect class="cached" x="${x}" y="${y}" width="${markWidth}" height="${laneHeight - 18}" rx="${corner}"></rect></g>`;
      }),
    });
  }
  const phases = [
    ["images", "image", report.images.filter((image) => !image.cached && image.start !== undefined)],
    ["tests", "test", report.tests.filter((test) => test.start !== undefined && test.skipped === undefined)],
  ] as const;
  for (const [label, kind, items] of phases) {
    // Tests on several machines at once overlap in time: each goes on the first of its lanes it fits.
    const laneEnds: number[] = [];
    const first = lanes.length + extra.length;
    for (const item of [...items].sort((a, b) => (a.start as number) - (b.start as number))) {
      const start = item.start as number;
      let lane = laneEnds.findIndex((end) => end <= start);
      if (lane < 0) {
        lane = laneEnds.length;
        extra.push({ label: lane === 0 ? label : "", items: [] });
      }
      laneEnds[lane] = start + item.ms;
      const name =
        "test" in item
          ? printableLine(`${item.test} (${item.image})`)
          : item.kind === "netboot bundle"
            ? `${item.name} (netboot bundle)`
            : item.name;
      const x = scale(start);
      const w = Math.max(2, scale(start + item.ms) - x);
      extra[first - lanes.length + lane]?.items.push(
        `<g><title>${escapeHtml(`${name}: ${formatDuration(item.ms)}`)}</title><rect class="${kind}" x="${x.toFixed(1)}" y="${(first + lane) * laneHeight + 5}" width="${w.toFixed(1)}" height="${laneHeight - 10}" rx="3"></rect></g>`,
      );
    }
  }
  const all = [...lanes, ...extra];
  if (all.length === 0) return "<p>No step ran in this run.</p>";
  const height = all.length * laneHeight + 24;
  const ticks = niceTicks(end).map((ms) => {
    const x = scale(ms).toFixed(1);
    return `<line class="tick" x1="${x}" x2="${x}" y1="0" y2="${height - 20}"></line><text class="axis" x="${x}" y="${height - 6}">${escapeHtml(formatDuration(ms))}</text>`;
  });
  const rows = all.map(
    (lane, index) =>
      `<text class="lane" x="4" y="${index * laneHeight + 19}">${escapeHtml(lane.label)}</text>${lane.items.join("")}`,
  );
  return `<svg class="gantt" viewBox="0 0 ${width} ${height}" role="img" aria-label="timeline of steps">${ticks.join("")}${rows.join("")}</svg>`;
}

function niceTicks(end: number): number[] {
  const steps = [
    1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000,
    3_600_000,
  ];
  const step = steps.find((candidate) => end / candidate <= 8) ?? 7_200_000;
  const ticks: number[] = [];
  for (let at = 0; at <= end; at += step) ticks.push(at);
  return ticks;
}

function logLink(step: StepRecord, report: RunReport): string {
  if (!step.log) return "";
  return `<a href="${escapeHtml(runRelative(step.log, report))}">log</a>`;
}

function stepsTable(report: RunReport): string {
  const longest = Math.max(1, ...report.steps.map((step) => step.ms));
  const critical = new Set(report.criticalPath);
  const rows = report.steps.map((step) => {
    const bar = `<span class="bar ${step.status}${critical.has(step.name) ? " critical" : ""}" style="width:${Math.max(1, Math.round((step.ms / longest) * 160))}px"></span>`;
    // What a built step made, for an auditor comparing runs: its key and tree digest. A cached step's
    // key is in report.md: hundreds of them here cost a no-op run a millisecond or two, for no reader.
    const identity = [
      step.key && step.status !== "cached" ? `key ${step.key}` : "",
      step.digest ? `tree ${step.digest}` : "",
    ].filter(Boolean);
    return `<tr class="${step.status}"><td><strong>${escapeHtml(step.name)}</strong>${step.version ? ` <span class="dim">${escapeHtml(step.version)}</span>` : ""}${identity.length > 0 ? `<br><code class="hash">${identity.map(escapeHtml).join("<br>")}</code>` : ""}</td><td>${escapeHtml(step.stage)}</td><td><span class="status ${step.status}">${escapeHtml(step.status)}</span>${step.status === "not-run" && step.reason ? ` <span class="dim">${escapeHtml(step.reason)}</span>` : ""}</td><td class="num">${step.status === "cached" || step.status === "not-run" ? "—" : step.status === "unfinished" ? `≥ ${escapeHtml(formatDuration(step.ms))}` : escapeHtml(formatDuration(step.ms))}</td><td>${bar}</td><td class="num">${step.worker === undefined ? "" : step.worker + 1}</td><td class="num">${step.attempts > 1 ? step.attempts : ""}</td><td>${logLink(step, report)}</td></tr>${
      step.status === "failed" && step.tail?.length
        ? `<tr class="tail"><td colspan="8"><pre>${escapeHtml(step.tail.map(printableLine).join("\n"))}</pre></td></tr>`
        : ""
    }`;
  });
  // Steps their `when` disabled: not part of the run, listed so that none seems forgotten.
  for (const { name, when, stage } of report.context?.disabled ?? [])
    rows.push(
      `<tr class="not-run"><td><strong>${escapeHtml(name)}</strong></td><td>${escapeHtml(stage ?? "")}</td><td><span class="status not-run">disabled</span> <span class="dim">${escapeHtml(`when = ${JSON.stringify(when)} is false`)}</span></td><td class="num">—</td><td></td><td></td><td></td><td></td></tr>`,
    );
  return `<table><thead><tr><th>step</th><th>stage</th><th>result</th><th>time</th><th></th><th>worker</th><th>attempts</th><th></th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

function testsSection(report: RunReport, options: HtmlOptions): string {
  if (report.tests.length === 0 && report.images.length === 0) return "";
  const images = report.images.length
    ? `<h3>Images</h3><ul>${report.images.map((image) => `<li><strong>${escapeHtml(image.name)}</strong> ${escapeHtml(image.kind ?? "")} ${image.bytes ? escapeHtml(formatBytes(image.bytes)) : ""} ${imageHtml(image)}</li>`).join("")}</ul>`
    : "";
  const tests = report.tests.map((test) => {
    if (test.skipped !== undefined)
      return `<div class="test skipped"><div><span class="status">skipped</span> <strong>${escapeHtml(printableLine(testTitle(test)))}</strong> <span class="dim">on ${escapeHtml(test.image)}: ${escapeHtml(printableLine(test.skipped))}</span></div></div>`;
    const excerpt = options.consoleExcerpts?.get(test.image);
    const consoleLog = test.consoleLog
      ? ` · <a href="${escapeHtml(runRelative(test.consoleLog, report))}">console log</a>`
      : "";
    return `<div class="test ${test.ok ? "passed" : "failed"}"><div><span class="status ${test.ok ? "built" : "failed"}">${test.ok ? "pass" : "fail"}</span> <strong>${escapeHtml(printableLine(testTitle(test)))}</strong> <span class="dim">on ${escapeHtml(test.image)}, ${escapeHtml(formatDuration(test.ms))}</span>${consoleLog}</div>${
      test.error ? `<pre>${escapeHtml(test.error.split("\n").map(printableLine).join("\n"))}</pre>` : ""
    }${excerpt?.length ? `<details><summary>console (last ${excerpt.length} lines)</summary><pre>${escapeHtml(excerpt.map(printableLine).join("\n"))}</pre></details>` : ""}</div>`;
  });
  const heading =
    report.tests.length === 0
      ? "Images"
      : report.images.length === 0
        ? "Boot tests"
        : "Images and boot tests";
  return `<section><h2>${heading}</h2>${images}${tests.join("\n")}</section>`;
}

function seedsTable(seeds: RunReport["toolsRun"], noun = "seed"): string {
  if (seeds.length === 0) return "<p>None recorded.</p>";
  return `<table><thead><tr><th>${noun}</th><th>path</th><th>version</th><th>sha256</th></tr></thead><tbody>${seeds
    .map(
      (seed) =>
        `<tr><td>${escapeHtml(seed.name)}</td><td><code>${escapeHtml(seed.realPath === seed.path ? seed.path : `${seed.path} → ${seed.realPath}`)}</code></td><td>${escapeHtml(seed.version)}</td><td><code class="hash">${escapeHtml(seed.sha256)}</code></td></tr>`,
    )
    .join("")}</tbody></table>`;
}

function sourcesTable(report: RunReport): string {
  const rows = sourcesOf(report);
  if (rows.length === 0) return "<p>None: no step of this run has sources.</p>";
  return `<table><thead><tr><th>file</th><th>steps</th><th>sha256</th><th>pinned from</th><th>obtained</th></tr></thead><tbody>${rows
    .map(
      (row) =>
        `<tr><td>${escapeHtml(row.files.join(", "))}</td><td>${escapeHtml(row.steps.join(", "))}</td><td><code class="hash">${escapeHtml(row.sha256)}</code></td><td>${escapeHtml(row.from.join(", ") || "—")}</td><td>${escapeHtml(obtainedText(row))}</td></tr>`,
    )
    .join("")}</tbody></table>`;
}

const STYLE = `
:root { --fg:#1d2330; --dim:#6b7385; --bg:#f7f8fa; --card:#fff; --line:#e3e6ec; --built:#3b82f6; --failed:#e5484d; --cached:#a0a7b4; --critical:#f59e0b; --image:#8b5cf6; --test:#10b981; }
@media (prefers-color-scheme: dark) { :root { --fg:#e6e9ef; --dim:#98a0b0; --bg:#14171d; --card:#1c2029; --line:#2c3240; } }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px 48px; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); max-width: 1200px; }
h1 { margin: 0 0 4px; font-size: 26px; } h2 { margin: 28px 0 10px; font-size: 19px; } h3 { font-size: 16px; }
.sub { margin: 0; color: var(--dim); } .meta { color: var(--dim); font-size: 13px; }
.badge { font-size: 13px; padding: 2px 10px; border-radius: 999px; vertical-align: middle; color: #fff; background: var(--cached); text-transform: uppercase; letter-spacing: .04em; }
.badge.passed { background: var(--test); } .badge.failed { background: var(--failed); } .badge.interrupted { background: var(--critical); }
p.error { color: var(--failed); font-weight: 600; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: 12px; margin-top: 18px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 12px 14px; }
.card .label { color: var(--dim); font-size: 12px; text-transform: uppercase; letter-spacing: .05em; } .card .value { font-size: 20px; font-weight: 600; margin-top: 2px; }
.card.passed .value { color: var(--test); } .card.failed .value { color: var(--failed); }
.gantt { width: 100%; height: auto; background: var(--card); border: 1px solid var(--line); border-radius: 10px; }
.gantt text { font-size: 11px; fill: var(--fg); } .gantt text.axis { fill: var(--dim); text-anchor: middle; } .gantt text.lane { fill: var(--dim); }
.gantt .tick { stroke: var(--line); stroke-width: 1; }
.gantt rect.built { fill: var(--built); opacity: .85; } .gantt rect.failed { fill: var(--failed); } .gantt rect.interrupted { fill: var(--critical); } .gantt rect.cached { fill: var(--cached); }
.gantt rect.image { fill: var(--image); opacity: .8; } .gantt rect.test { fill: var(--test); opacity: .8; }
.gantt rect.critical { stroke: var(--critical); stroke-width: 3; } .gantt g text { fill: #fff; pointer-events: none; }
.legend { color: var(--dim); font-size: 13px; } .swatch { display: inline-block; width: 12px; height: 12px; border-radius: 3px; margin: 0 4px 0 12px; vertical-align: -1px; }
.sw-built { background: var(--built); } .sw-failed { background: var(--failed); } .sw-cached { background: var(--cached); } .sw-critical { border: 3px solid var(--critical); } .sw-image { background: var(--image); } .sw-test { background: var(--test); }
table { width: 100%; border-collapse: collapse; background: var(--card); border: 1px solid var(--line); border-radius: 10px; overflow: hidden; }
th, td { text-align: left; padding: 7px 10px; border-bottom: 1px solid var(--line); font-size: 14px; vertical-align: top; }
th { font-size: 12px; text-transform: uppercase; letter-spacing: .05em; color: var(--dim); } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.bar { display: inline-block; height: 10px; border-radius: 3px; background: var(--built); } .bar.cached { background: var(--cached); } .bar.failed { background: var(--failed); } .bar.interrupted { background: var(--critical); } .bar.critical { box-shadow: 0 0 0 2px var(--critical); }
.status { font-size: 12px; padding: 1px 8px; border-radius: 999px; background: var(--line); } .status.built { background: #dbeafe; color: #1e40af; } .status.failed { background: #fde2e2; color: #9b1c1c; } .status.interrupted { background: #fef3c7; color: #92400e; } .status.cached { color: var(--dim); }
.dim { color: var(--dim); } code { font-size: 13px; } code.hash { font-size: 11px; word-break: break-all; }
pre { background: #0f1218; color: #d6dbe5; padding: 10px 12px; border-radius: 8px; overflow-x: auto; font-size: 12.5px; }
.test { background: var(--card); border: 1px solid var(--line); border-left: 4px solid var(--test); border-radius: 8px; padding: 10px 12px; margin: 8px 0; }
.test.failed { border-left-color: var(--failed); }
a { color: var(--built); } footer { margin-top: 32px; color: var(--dim); font-size: 13px; }
`;

function imageHtml(image: ImageRecord): string {
  switch (imageOutcome(image)) {
    case "cached":
      return "(from the cache)";
    case "made":
      return `${image.msUnknown ? "(made; its time was not recorded)" : `(made in ${escapeHtml(formatDuration(image.ms))})`}${image.sha256 ? ` <code class="hash">sha256 ${escapeHtml(image.sha256)}</code>` : ""}`;
    case "failed":
      return `<span class="status failed">failed</span> ${escapeHtml(printableLine(image.error?.split("\n")[0] ?? ""))}`;
    case "interrupted":
      return `<span class="status interrupted">interrupted</span>`;
    default:
      return "(not finished)";
  }
}
