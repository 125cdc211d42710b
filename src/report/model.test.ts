import assert from "node:assert/strict";
import { test } from "node:test";
import { sampleJournal as journal } from "../../test/fixtures/sample-journal.ts";
import type { RunContext, TimedEvent } from "../events.ts";
import { renderHtml } from "./html.ts";
import { renderMarkdown } from "./markdown.ts";
import { criticalPathOf, reportFromEvents } from "./model.ts";

test("the model counts steps, attempts, stages and the critical path", () => {
  const report = reportFromEvents(journal());
  assert.equal(report.ok, true);
  assert.equal(report.unfinished, false);
  const libc = report.steps.find((step) => step.name === "libc");
  assert.equal(libc?.status, "built");
  assert.equal(libc?.attempts, 2);
  assert.equal(libc?.ms, 8000);
  assert.deepEqual(report.criticalPath, ["libc", "shell"]);
  assert.equal(report.criticalMs, 11_000);
  assert.deepEqual(
    report.stages.map((stage) => [stage.name, stage.built, stage.cached, stage.wallMs]),
    [
      ["toolchain", 1, 1, 8000],
      ["system", 2, 0, 11000],
    ],
  );
  assert.equal(report.buildMs, 12_000);
  assert.equal(report.totalMs, 16_000);
});

test("report.md has the list's fields, filled from the run", () => {
  const markdown = renderMarkdown(reportFromEvents(journal()));
  for (const field of [
    "Upstream:",
    "Bootstrapping documentation:",
    "Requirements:",
    "Automation: Fully automated: 4 steps (this run built 3, reused 1 from the cache), 0 manual, 1 image (made 1, reused 0 from the cache)",
    "Integration testing: 2 boot tests in QEMU under TCG, 2 passed, 0 failed",
    "What you get: A tiny system; images: initramfs (initramfs, 1.4 MiB)",
    'Can install further software from source: Yes, tested: "tcc compiles and runs a program" on initramfs passed',
    "Version: plan tiny (in a git work tree at abc123, not checked that the plan is committed there as it is), rootstock 0.1.0 at git def456, not checked for local changes",
    "Requirements: Linux (Debian GNU/Linux 12 (bookworm), kernel 6.1.0) with rootstock 0.1.0, bubblewrap and QEMU;",
    "Architecture: x86_64",
    "Date: 2023-11-14",
    "Build time: 12s on Test CPU, 2 cores; each stage from its first step's start to its last one's end: toolchain 8.0s, system 11s; 1 of 4 steps came from the cache; images and boot tests took 4.0s more",
    "### Testing process",
    "| gcc | /usr/bin/gcc → /usr/bin/x86_64-linux-gnu-gcc-12 | gcc (Debian 12.2.0-14) 12.2.0 |",
    "  * libc 1.2.3: built in 8.0s (bwrap, host tools read-only, 1 patch, 2 attempts); key `k2`, tree `t2`",
    "* Image initramfs (initramfs): made in 800ms, 1.4 MiB; sha256 `s1`, key `i1`",
    "  * headers: from the cache (key `k1`)",
    "* A step from the cache has its tree digest in the report of the run that built it",
    '* Skipped docs: `when = "WITH_DOCS"` is false',
    "* Critical path: libc → shell (11s)",
  ]) {
    assert.ok(markdown.includes(field), `missing ${JSON.stringify(field)} in:\n${markdown}`);
  }
  // The same identities in report.html: a step's key and tree, an image's sha256.
  const html = renderHtml(reportFromEvents(journal()));
  assert.ok(html.includes("key k2<br>tree t2"), html);
  assert.ok(html.includes("sha256 s1"), html);
});

test("a run is ok only when it ended ok: a boot or netboot that failed after its build did not pass", () => {
  const failedLater = journal().map((event) => (event.type === "run:end" ? { ...event, ok: false } : event));
  const report = reportFromEvents(failedLater);
  assert.equal(report.ok, false);
  assert.equal(report.unfinished, false);
  // Ended before its build started (a fetch that failed): its id is still known.
  assert.equal(reportFromEvents(journal().filter((event) => event.type !== "run:start")).runId, "r1");
  // Killed after the build's end: unfinished, not passed.
  const killed = reportFromEvents(journal().filter((event) => event.type !== "run:end"));
  assert.equal(killed.unfinished, true);
  assert.equal(killed.ok, false);
});

test("a journal cut short by a kill says the run did not finish", () => {
  const events = journal().slice(0, 6);
  const report = reportFromEvents(events);
  assert.equal(report.unfinished, true);
  assert.equal(report.ok, false);
  assert.match(renderMarkdown(report), /Result: did not finish/);
  // Steps that had started when the run was killed are told apart from steps that never ran.
  assert.equal(report.steps.find((step) => step.name === "kernel")?.status, "unfinished");
  assert.equal(report.steps.find((step) => step.name === "shell")?.status, "not-run");
  assert.match(renderMarkdown(report), /\* kernel[^:]*: started \(.*\), not finished when the run ended/);
  // The same journal, of a run still going on: its steps are going on, or have not started yet.
  const live = { ...report, running: true };
  assert.match(renderMarkdown(live), /\* kernel[^:]*: started \(.*\), still going on/);
  assert.match(renderMarkdown(live), /\* shell: not started yet/);
  assert.match(renderMarkdown(live), /Result: still running/);
});

test("an interrupted run says so everywhere, and tests it stopped are skipped, not failed", () => {
  const events = journal()
    .filter((event) => event.type !== "step:done" || event.step !== "kernel")
    .map((event) => {
      if (event.type === "run:done")
        return { ...event, ok: false, built: 2, interrupted: ["kernel"], ms: event.ms };
      if (event.type === "run:end") return { ...event, ok: false, interrupted: true as const };
      if (event.type === "test:done" && event.test === "uname")
        return {
          type: "test:skipped" as const,
          image: event.image,
          module: event.module,
          test: event.test,
          reason: "the run was interrupted",
          time: event.time,
        };
      return event;
    });
  const at = events.findIndex((event) => event.type === "run:done");
  const stopped = {
    type: "step:failed" as const,
    step: "kernel",
    key: "k4",
    ms: 9000,
    worker: 1,
    reason: "interrupted",
    log: "/runs/r1/logs/kernel.log",
    tail: [],
    interrupted: true as const,
    time: (events[at]?.time ?? 0) - 1000,
  };
  events.splice(at, 0, stopped);
  const report = reportFromEvents(events);
  assert.equal(report.interrupted, true);
  assert.equal(report.ok, false);
  assert.equal(report.steps.find((step) => step.name === "kernel")?.status, "interrupted");
  const markdown = renderMarkdown(report);
  assert.match(markdown, /Automation: Fully automated, but this run was interrupted: .*, 1 interrupted\)/);
  assert.match(
    markdown,
    /Integration testing: 2 boot tests in QEMU under TCG, 1 passed, 0 failed, 1 skipped/,
  );
  assert.match(markdown, /\* Test boot › uname on initramfs: skipped: the run was interrupted/);
  assert.match(markdown, /\* kernel[^:]*: interrupted after/);
  assert.match(markdown, /Result: interrupted/);
  assert.match(markdown, /Build time: not measured: the run was interrupted/);
  assert.doesNotMatch(markdown, /FAILED|failure/);
  const html = renderHtml(report);
  assert.match(html, /<span class="badge interrupted">interrupted<\/span>/);
  const imageStopped = reportFromEvents(
    events.map((event) =>
      event.type === "image:done"
        ? {
            type: "image:failed" as const,
            image: event.image,
            error: "interrupted",
            interrupted: true as const,
            time: event.time,
          }
        : event,
    ),
  );
  assert.match(renderMarkdown(imageStopped), /\* Image initramfs \(initramfs\): interrupted\n/);
  assert.match(renderHtml(imageStopped), /<span class="status interrupted">interrupted<\/span>/);
  assert.match(html, /1 \/ 2 passed · 1 skipped/);
});

test("report.md repeats the --set values, keeps HTML and control characters out, and does not time a cached run", () => {
  const hostile = "<img src=x onerror=alert(1)> \u001b[31mred";
  const events = journal().map((event) => {
    if (event.type === "run:context")
      return {
        ...event,
        context: {
          ...event.context,
          plan: {
            ...event.context.plan,
            dir: "my plans/tiny",
            description: hostile,
            set: { WITH_DOCS: true, FLAVOUR: "it's" },
          },
        },
      };
    if (event.type === "test:done") return { ...event, test: `${event.test} ${hostile}` };
    return event;
  });
  const markdown = renderMarkdown(reportFromEvents(events));
  // A value that would run a command, or drive a terminal, if pasted: quoted whole, its control characters shown.
  const pasted = renderMarkdown(
    reportFromEvents(
      events.map((event) =>
        event.type === "run:context"
          ? {
              ...event,
              context: {
                ...event.context,
                targets: ["kernel"],
                options: ["--accel", "tcg", "--machines", "1"],
                plan: { ...event.context.plan, set: { V: "a b`$(x)\u001b[31m\n*y*" } },
              },
            }
          : event,
      ),
    ),
  );
  assert.ok(
    pasted.includes(
      "  ```sh\n  rootstock test --accel tcg --machines 1 --set $'V=a b`$(x)\\x1b[31m\\n*y*' 'my plans/tiny' kernel\n  ```\n",
    ),
    pasted,
  );
  assert.match(
    markdown,
    /\* Command \(run r1\):\n\n {2}```sh\n {2}rootstock test --set WITH_DOCS=true --set 'FLAVOUR=it'\\''s' 'my plans\/tiny'\n {2}```\n/,
  );
  assert.ok(!markdown.includes("<img") && !markdown.includes("\u001b"));
  assert.ok(!renderHtml(reportFromEvents(events)).includes("\u001b"), "nor in report.html");
  assert.match(markdown, /&lt;img src=x onerror=alert\(1\)&gt; \ufffd\[31mred/);

  const cached = journal()
    .filter((event) => !["step:start", "step:done", "step:attempt-failed"].includes(event.type))
    .map((event) => (event.type === "step:cached" ? event : event));
  const allCached = [
    ...cached.slice(0, 3),
    ...["libc", "shell", "kernel"].map((step) => ({
      type: "step:cached" as const,
      step,
      key: step,
      time: cached[2]?.time ?? 0,
    })),
    ...cached.slice(3),
  ];
  assert.match(
    renderMarkdown(reportFromEvents(allCached)),
    /Build time: not measured in this run: all 4 steps came from the cache/,
  );
});

test("the same journal gives the same report", () => {
  assert.equal(renderMarkdown(reportFromEvents(journal())), renderMarkdown(reportFromEvents(journal())));
  assert.equal(renderHtml(reportFromEvents(journal())), renderHtml(reportFromEvents(journal())));
});

test("report.html is self-contained and marks lanes, cache hits and the critical path", () => {
  const html = renderHtml(reportFromEvents(journal()), {
    consoleExcerpts: new Map([["initramfs", ["# uname -r", "6.1.176"]]]),
  });
  assert.doesNotMatch(html, /<script|<link |src="http/);
  assert.match(html, /worker 1<\/text>/);
  assert.match(html, /worker 2<\/text>/);
  assert.match(html, /class="built critical"/);
  assert.match(html, /headers: from the cache/);
  assert.match(html, /<a href="logs\/libc\.log">log<\/a>/);
  assert.match(html, /console \(last 2 lines\)/);
  // The seed as the steps name it, and what it resolves to, as report.md gives it.
  assert.match(html, /<code>\/usr\/bin\/gcc → \/usr\/bin\/x86_64-linux-gnu-gcc-12<\/code>/);
});

test("only tests that declare they build software answer 'Can install further software'", () => {
  const field = (events: ReturnType<typeof journal>) =>
    renderMarkdown(reportFromEvents(events))
      .split("\n")
      .find((line) => line.includes("Can install further software from source"));
  const unclaimed = journal().map((event) =>
    event.type === "test:done" ? { ...event, evidence: undefined } : event,
  );
  assert.match(field(unclaimed) ?? "", /Not tested in this run/);
  const failed = journal().map((event) =>
    event.type === "test:done" && event.evidence ? { ...event, ok: false, error: "tcc: not found" } : event,
  );
  assert.match(field(failed) ?? "", /Not shown: "tcc compiles and runs a program" on initramfs failed/);
});

test("report.html's cache lane fits the timeline however many steps came from the cache", () => {
  const events = journal();
  const start = events.find((event) => event.type === "run:start");
  const time = start?.time ?? 0;
  const many = Array.from({ length: 500 }, (_, index) => ({
    type: "step:cached" as const,
    step: `cached${index}`,
    key: "k".repeat(64),
    time,
  }));
  const html = renderHtml(reportFromEvents([...events, ...many]), {});
  const xs = [...html.matchAll(/<rect class="cached" x="([\d.]+)"[^>]*width="([\d.]+)"/g)].map(
    (match) => Number(match[1]) + Number(match[2]),
  );
  assert.ok(xs.length >= 500);
  assert.ok(Math.max(...xs) <= 1000, `a cache mark ends at x=${Math.max(...xs)}, past the 1000-wide view`);
});

test("the critical path runs through steps that ran, not through a cached step between them", () => {
  const step = (name: string, status: "built" | "cached", ms: number) => ({
    name,
    stage: "s",
    status,
    ms,
    attempts: status === "built" ? 1 : 0,
  });
  // y's entry was kept while x's was collected: x is built again, y is cached, z (needing y) starts at once.
  const steps = [step("x", "built", 5000), step("y", "cached", 0), step("z", "built", 3000)];
  const context = {
    steps: [
      { name: "x", deps: [] },
      { name: "y", deps: ["x"] },
      { name: "z", deps: ["y"] },
    ],
  } as unknown as RunContext;
  assert.deepEqual(criticalPathOf(steps, context), { path: ["x"], ms: 5000 });
  assert.deepEqual(criticalPathOf([step("y", "cached", 0)], context), { path: [], ms: 0 });
});

test("an image that failed, or was not finished, is not reported as made", () => {
  const failed = journal().map((event) =>
    event.type === "image:done"
      ? {
          type: "image:failed" as const,
          image: event.image,
          error: "image initramfs: 1.0 MiB is too small",
          time: event.time,
        }
      : event,
  );
  assert.match(
    renderMarkdown(reportFromEvents(failed)),
    /^\* Image initramfs \(initramfs\): FAILED: image initramfs: 1\.0 MiB is too small$/m,
  );
  assert.match(
    renderHtml(reportFromEvents(failed)),
    /<span class="status failed">failed<\/span> image initramfs: 1\.0 MiB/,
  );
  const cut = journal().filter((event) => event.type !== "image:done");
  assert.match(
    renderMarkdown(reportFromEvents(cut)),
    /^\* Image initramfs \(initramfs\): not finished when the run ended$/m,
  );
});

test("a netboot bundle is one of the run's images, made or from the cache alike", () => {
  const withBundle = (cached: boolean) => {
    const events = journal();
    const end = events.findIndex((event) => event.type === "run:end");
    const time = (events[end]?.time ?? 0) - 1000;
    events.splice(end, 0, {
      type: "netboot:bundle",
      image: "net",
      key: "k".repeat(64),
      dir: "/store/netboot/kkk",
      cached,
      bytes: 3 * 1024 * 1024,
      ...(cached ? {} : { ms: 800 }),
      time,
    });
    return renderMarkdown(reportFromEvents(events));
  };
  assert.match(withBundle(false), /^\* Image net \(netboot bundle\): made in 800ms, 3\.0 MiB$/m);
  assert.match(withBundle(true), /^\* Image net \(netboot bundle\): from the cache, 3\.0 MiB$/m);
  assert.match(
    withBundle(true),
    /images: initramfs \(initramfs, 1\.4 MiB\), net \(netboot bundle, 3\.0 MiB\)/,
  );
  // Its bar on the timeline says what it is, beside its image's of the same name.
  const bundleEvents = journal();
  const end = bundleEvents.findIndex((event) => event.type === "run:end");
  bundleEvents.splice(end, 0, {
    type: "netboot:bundle",
    image: "net",
    key: "k".repeat(64),
    dir: "/store/netboot/kkk",
    cached: false,
    bytes: 1024,
    ms: 800,
    time: (bundleEvents[end]?.time ?? 0) - 1000,
  });
  assert.match(renderHtml(reportFromEvents(bundleEvents)), /<title>net \(netboot bundle\): 800ms<\/title>/);
  // Counted apart from the plan's images, made or reused alike.
  assert.match(
    withBundle(true),
    /0 manual, 1 image \(made 1, reused 0 from the cache\), 1 netboot bundle \(made 0, reused 1 from the cache\)$/m,
  );
});

test("report.md claims a build time and full automation only for what the run showed", () => {
  const events = journal();
  // A failed step, the other steps cached: the time of a failed build is not the bootstrap's.
  const failed = events.map((event) =>
    event.type === "step:done" && event.step === "shell"
      ? {
          type: "step:failed" as const,
          step: "shell",
          key: "k3",
          worker: 0,
          reason: "exit 1",
          log: "logs/shell.log",
          tail: [],
          ms: 3000,
          time: event.time,
        }
      : event.type === "run:end"
        ? { ...event, ok: false }
        : event,
  );
  const failedMarkdown = renderMarkdown(reportFromEvents(failed));
  assert.match(failedMarkdown, /^Build time: not measured: the run failed \(12s of steps until then\)$/m);
  assert.match(failedMarkdown, /^Automation: Fully automated, but this run failed: 4 steps/m);
  // An image that could not be made is not something the run gives.
  const imageFailed = events.map((event) =>
    event.type === "image:done"
      ? { type: "image:failed" as const, image: "initramfs", error: "too small", time: event.time }
      : event.type === "run:end"
        ? { ...event, ok: false }
        : event,
  );
  const imageMarkdown = renderMarkdown(reportFromEvents(imageFailed));
  assert.match(
    imageMarkdown,
    /^Automation: Fully automated, but this run failed: 4 steps \(this run built 3, reused 1 from the cache\), 0 manual, 1 image \(made 0, reused 0 from the cache, 1 failed\)$/m,
  );
  assert.match(imageMarkdown, /^What you get: A tiny system$/m);
  // A run of some steps (`run PLAN STEP`) says how much of the plan it covered.
  const partial = events.map((event) =>
    event.type === "run:context"
      ? { ...event, context: { ...event.context, plan: { ...event.context.plan, steps: 9 } } }
      : event,
  );
  assert.match(
    renderMarkdown(reportFromEvents(partial)),
    /^Automation: Fully automated as far as this run went: 4 of the plan's 9 steps \(this run built 3, reused 1 from the cache\), 0 manual/m,
  );
  // A step disabled by `when` is listed once, as skipped, not as a step of no stage that did not run.
  const skipped = [...events];
  skipped.splice(2, 0, {
    type: "step:skipped",
    step: "docs",
    because: 'when = "WITH_DOCS" is false',
    time: 0,
  });
  const skippedMarkdown = renderMarkdown(reportFromEvents(skipped));
  assert.doesNotMatch(skippedMarkdown, /Stage \(none\)|docs: not run/);
  assert.match(skippedMarkdown, /^\* Skipped docs: /m);
  // Only a run whose steps ran somewhere needs bubblewrap; only one that booted needs QEMU.
  const hostOnly = events
    .filter((event) => !event.type.startsWith("test:") && event.type !== "vm:accel")
    .map((event) =>
      event.type === "run:context"
        ? {
            ...event,
            context: {
              ...event.context,
              steps: event.context.steps.map((step) => ({ ...step, sandbox: "host" as const })),
            },
          }
        : event,
    );
  assert.match(
    renderMarkdown(reportFromEvents(hostOnly)),
    /^Requirements: .* with rootstock 0\.1\.0; host tools/m,
  );
  assert.match(renderHtml(reportFromEvents(hostOnly)), /<h2>Images<\/h2>/);
});

test("a stage that came whole from the cache is said to, and declared host packages are requirements", () => {
  const events = journal()
    .filter((event) => !("step" in event && event.step === "libc"))
    .map((event) =>
      event.type === "run:context"
        ? {
            ...event,
            context: { ...event.context, plan: { ...event.context.plan, packages: ["libelf-dev"] } },
          }
        : event,
    );
  events.splice(2, 0, { type: "step:cached", step: "libc", key: "k2", time: events[1]?.time ?? 0 });
  const markdown = renderMarkdown(reportFromEvents(events));
  assert.match(
    markdown,
    /^Build time: .*each stage from its first step's start to its last one's end: toolchain from the cache, system /m,
  );
  assert.match(
    markdown,
    /^Requirements: .*; host tools used: gcc \(12\.2\.0-14\); host packages: libelf-dev$/m,
  );
});

test("report.md gives a failed test's error in one line: a command's output after its colon, and the hint", () => {
  const failed = journal().map((event) =>
    event.type === "test:done" && event.test === "uname"
      ? {
          ...event,
          ok: false,
          error:
            'initramfs-boot: the command "echo bad output; exit 7" failed with exit status 7; its output:\n    bad output\nhint: the output above is what the command printed',
        }
      : event,
  );
  assert.match(
    renderMarkdown(reportFromEvents(failed)),
    /^\* Test boot › uname on initramfs: FAILED in 300ms — initramfs-boot: the command "echo bad output; exit 7" failed with exit status 7; its output: bad output \(hint: the output above is what the command printed\)$/m,
  );
  // A timeout's hint points at console lines the terminal shows; the report shows none but names the log.
  const timedOut = journal().map((event) =>
    event.type === "test:done" && event.test === "uname"
      ? {
          ...event,
          ok: false,
          error:
            'initramfs-boot: the command "sleep 100" did not finish within 3s; last 30 console lines:\n  x\nhint: the console lines above show how far it got; a slow machine (no KVM) may need a longer timeout',
        }
      : event,
  );
  assert.match(renderMarkdown(reportFromEvents(timedOut)), /\(hint: the console log shows how far it got; /);
});

test("a run's wall time counts from its first event, host checks and fetching included, as the terminal does", () => {
  const events = journal();
  const start = events.find((event) => event.type === "run:start");
  assert.ok(start);
  // Fetching took 2 s between the run's context and its start; run:end says how long the whole run was.
  const shifted = events.map((event) =>
    event.type === "run:context" ? event : { ...event, time: event.time + 2000 },
  );
  const ending = shifted.map((event) => (event.type === "run:end" ? { ...event, ms: 18_000 } : event));
  const report = reportFromEvents(ending);
  assert.equal(report.totalMs, 18_000);
  assert.equal(report.started, start.time);
  // Steps keep their times from the start of building.
  assert.equal(report.steps.find((step) => step.name === "libc")?.start, 1000);
});

test("a netboot run's time after its build is the images' and then serving, not 'images and boot tests'", () => {
  const exported = journal()
    .filter((event) => !event.type.startsWith("test:"))
    .map((event) =>
      event.type === "run:context" ? { ...event, context: { ...event.context, command: "netboot" } } : event,
    );
  const end = exported.find((event) => event.type === "run:end");
  assert.ok(end);
  const listening: TimedEvent = {
    type: "netboot:listening",
    url: "http://127.0.0.1:8080/",
    address: "127.0.0.1",
    port: 8080,
    time: end.time - 3200,
  };
  const served = [...exported.slice(0, -1), listening, end];
  const markdown = renderMarkdown(reportFromEvents(served));
  assert.match(markdown, /; images and the bundle took 800ms more, then it served for 3\.2s$/m);
  assert.doesNotMatch(markdown, /images and boot tests took/);
  // Exported with --out: it never listened, so nothing was served.
  assert.match(renderMarkdown(reportFromEvents(exported)), /; images and the bundle took 4\.0s more$/m);
});

test("the time after an image or boot command's build is named for what it did", () => {
  const asCommand = (command: string) =>
    renderMarkdown(
      reportFromEvents(
        journal()
          .filter((event) => !event.type.startsWith("test:"))
          .map((event) =>
            event.type === "run:context" ? { ...event, context: { ...event.context, command } } : event,
          ),
      ),
    );
  assert.match(asCommand("image"), /; images took 4\.0s more$/m);
  assert.match(asCommand("boot"), /; images and the boot took 4\.0s more$/m);
});

test("a bundle an older rootstock made without recording its time is not said to take 0ms", () => {
  const events = journal();
  const end = events.find((event) => event.type === "run:end");
  assert.ok(end);
  const bundle: TimedEvent = {
    type: "netboot:bundle",
    image: "net",
    key: "k",
    dir: "/store/netboot/k",
    cached: false,
    bytes: 4096,
    time: end.time - 100,
  };
  const report = reportFromEvents([...events.slice(0, -1), bundle, end]);
  assert.match(
    renderMarkdown(report),
    /^\* Image net \(netboot bundle\): made \(its time was not recorded\), 4\.0 KiB$/m,
  );
  assert.match(renderHtml(report), /\(made; its time was not recorded\)/);
});

test("the reports list each source once, with the steps it serves, its sha256, its pin and this run's fetch", () => {
  const sha = (digit: string) => digit.repeat(64);
  const events = journal().map((event) =>
    event.type === "run:context"
      ? {
          ...event,
          context: {
            ...event.context,
            // The store's notes: the one of a file this run fetched again is the older story.
            sourceOrigins: {
              [sha("a")]: {
                how: "imported" as const,
                from: "/home/me/musl.tar.gz",
                at: "2026-11-01T10:00:00.000Z",
              },
              [sha("b")]: {
                how: "fetched" as const,
                from: "https://old.example/b",
                at: "2026-10-01T10:00:00.000Z",
              },
            },
            steps: event.context.steps.map((step, index) => ({
              ...step,
              sources:
                index === 0
                  ? [
                      {
                        file: "musl-1.2.5.tar.gz",
                        sha256: sha("a"),
                        url: "https://musl.libc.org/releases/musl-1.2.5.tar.gz",
                      },
                    ]
                  : index === 1
                    ? [
                        { file: "musl.tar.gz", sha256: sha("a"), url: "https://example.org/musl.tar.gz" },
                        { file: "hello_2.10.orig.tar.gz", sha256: sha("b"), debian: "hello=2.10-3" },
                      ]
                    : [],
            })),
          },
        }
      : event,
  );
  const fetched: TimedEvent = {
    type: "fetch:done",
    sha256: sha("b"),
    file: "hello_2.10.orig.tar.gz",
    from: "/media/stick/mirror/sha256/bbbb",
    bytes: 10,
    ms: 5,
    time: (events[0]?.time ?? 0) + 1,
  };
  const report = reportFromEvents([events[0] as TimedEvent, fetched, ...events.slice(1)]);
  const markdown = renderMarkdown(report);
  const [first, second] = report.context?.steps ?? [];
  assert.ok(
    markdown.includes(
      `| musl-1.2.5.tar.gz, musl.tar.gz | ${first?.name}, ${second?.name} | \`${sha("a")}\` | https://musl.libc.org/releases/musl-1.2.5.tar.gz, https://example.org/musl.tar.gz | imported from /home/me/musl.tar.gz (2026-11-01), before this run |`,
    ),
    markdown,
  );
  assert.ok(
    markdown.includes(
      `| \`${sha("b")}\` | debian hello=2.10-3 | fetched by this run from /media/stick/mirror/sha256/bbbb |`,
    ),
    markdown,
  );
  assert.match(
    renderHtml(report),
    /<h2>Sources<\/h2>[\s\S]*fetched by this run from \/media\/stick\/mirror\/sha256\/bbbb/,
  );
  // No note (a store older than its notes, or a source that is not there): what this run did is all.
  const noNotes = reportFromEvents(
    events.map((event) =>
      event.type === "run:context"
        ? { ...event, context: { ...event.context, sourceOrigins: undefined } }
        : event,
    ),
  );
  assert.match(renderMarkdown(noNotes), /\| not fetched by this run \|$/m);
});

test("the command to repeat a run names the folder it ran in when the plan was named by a relative path", () => {
  const withCwd = (dir: string) =>
    journal().map((event) =>
      event.type === "run:context"
        ? {
            ...event,
            context: { ...event.context, cwd: "/home/me/work dir", plan: { ...event.context.plan, dir } },
          }
        : event,
    );
  assert.match(
    renderMarkdown(reportFromEvents(withCwd("."))),
    /^Bootstrapping documentation: the rootstock plan tiny, in \/home\/me\/work dir$/m,
  );
  assert.match(
    renderMarkdown(reportFromEvents(withCwd("h23/p"))),
    /^ {2}cd '\/home\/me\/work dir' && rootstock test h23\/p$/m,
  );
  assert.match(
    renderMarkdown(reportFromEvents(withCwd("/srv/plans/p"))),
    /^ {2}rootstock test \/srv\/plans\/p$/m,
  );
});

test("a step's time is the one the terminal gave (its build), not the gap between two events", () => {
  const events = journal().map((event) =>
    event.type === "step:done" && event.step === "shell" ? { ...event, ms: 2_900 } : event,
  );
  assert.match(renderMarkdown(reportFromEvents(events)), /\* shell: built in 2\.9s /);
});

test("tests of two modules of one name in two folders are told apart, and a console log is named in the run's folder", () => {
  const events = journal().filter((event) => !event.type.startsWith("test:"));
  const end = events.pop() as TimedEvent;
  const time = end.time;
  const report = reportFromEvents([
    ...events,
    { type: "test:done", image: "ram", module: "tests/a/boot.test.ts", test: "boots", ok: true, ms: 5, time },
    {
      type: "test:done",
      image: "ram",
      module: "tests/b/boot.test.ts",
      test: "boots",
      ok: false,
      ms: 5,
      error: "no",
      consoleLog: `${(events.find((event) => event.type === "run:start") as { runDir: string }).runDir}/ram/b-boot/console.log`,
      time,
    },
    end,
  ]);
  const markdown = renderMarkdown(report);
  assert.match(markdown, /^\* Test a\/boot › boots on ram: passed/m);
  assert.match(
    markdown,
    /^\* Test b\/boot › boots on ram: FAILED in 5ms — no \(console log: ram\/b-boot\/console\.log in the run's folder\)$/m,
  );
});
