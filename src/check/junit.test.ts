import assert from "node:assert/strict";
import { test } from "node:test";
import { renderJunit, xml } from "./junit.ts";

test("results become one suite per image and module, with failures and skips", () => {
  const text = renderJunit([
    { image: "initramfs", module: "tests/boot.test.ts", name: "boots", status: "passed", ms: 1500 },
    {
      image: "initramfs",
      module: "tests/boot.test.ts",
      name: "runs <tcc>",
      status: "failed",
      ms: 250,
      message: 'exit status 1\nmore "detail"',
      type: "ERR_CHECK_COMMAND_FAILED",
      details: "full & long",
      consoleLog: "/runs/1/console.log",
    },
    {
      image: "initramfs",
      module: "tests/boot.test.ts",
      name: "later",
      status: "skipped",
      ms: 0,
      message: "earlier failed",
    },
    { image: "disk", module: "tests/disk.test.ts", name: "mounts", status: "passed", ms: 10 },
  ]);
  assert.match(
    text,
    /^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites name="rootstock" tests="4" failures="1" skipped="1" time="1.760">/,
  );
  assert.match(
    text,
    /<testsuite name="initramfs\/tests\/boot.test.ts" tests="3" failures="1" skipped="1" time="1.750">/,
  );
  assert.match(text, /<testcase classname="initramfs.boot" name="boots" time="1.500"\/>/);
  assert.match(text, /name="runs &lt;tcc&gt;"/);
  assert.match(
    text,
    /<failure message="exit status 1" type="ERR_CHECK_COMMAND_FAILED">full &amp; long<\/failure>/,
  );
  assert.match(text, /<system-out>console log: \/runs\/1\/console.log<\/system-out>/);
  assert.match(text, /<skipped message="earlier failed"\/>/);
  assert.match(text, /<testsuite name="disk\/tests\/disk.test.ts" tests="1" failures="0" skipped="0"/);
});

test("text is escaped and characters XML cannot hold are dropped", () => {
  assert.equal(xml(`a<b>&"c'\u0000\u001b[0m\tok`), "a&lt;b&gt;&amp;&quot;c&apos;[0m\tok");
});

test("two modules of one name in two folders are two classes, as CI systems key a case by class and name", () => {
  const text = renderJunit([
    { image: "ram", module: "tests/a/boot.test.ts", name: "boots", status: "passed", ms: 10 },
    { image: "ram", module: "tests/b/boot.test.ts", name: "boots", status: "failed", ms: 10, message: "no" },
  ]);
  assert.match(text, /<testcase classname="ram\.a\.boot" name="boots"/);
  assert.match(text, /<testcase classname="ram\.b\.boot" name="boots"/);
  // The usual layout keeps its names.
  assert.match(
    renderJunit([{ image: "ram", module: "tests/boot.test.ts", name: "x", status: "passed", ms: 1 }]),
    /classname="ram\.boot"/,
  );
});
