import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import { CliContext } from "./context.ts";

/** A stream that says it is a terminal, or not. */
function stream(isTTY: boolean): PassThrough {
  return Object.assign(new PassThrough(), { isTTY });
}

function withEnv<T>(env: Record<string, string | undefined>, work: () => T): T {
  const saved = Object.fromEntries(Object.keys(env).map((name) => [name, process.env[name]]));
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  try {
    return work();
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

const plain = { NO_COLOR: undefined, FORCE_COLOR: undefined, TERM: "xterm", CI: undefined };

test("each stream gets colour when it is a terminal: errors on a terminal while output goes to a file", () => {
  withEnv(plain, () => {
    const context = new CliContext(stream(false), stream(true));
    assert.equal(context.style("red", "x"), "x");
    assert.notEqual(context.styleErr("red", "x"), "x");
    const reversed = new CliContext(stream(true), stream(false));
    assert.notEqual(reversed.style("red", "x"), "x");
    assert.equal(reversed.styleErr("red", "x"), "x");
  });
});

test("FORCE_COLOR=0 and TERM=dumb mean no colour; TERM=dumb also means no redrawn status line", () => {
  withEnv({ ...plain, FORCE_COLOR: "0" }, () => {
    assert.equal(new CliContext(stream(true), stream(true)).style("red", "x"), "x");
  });
  withEnv({ ...plain, FORCE_COLOR: "1" }, () => {
    assert.notEqual(new CliContext(stream(false), stream(false)).style("red", "x"), "x");
  });
  withEnv({ ...plain, TERM: "dumb" }, () => {
    const context = new CliContext(stream(true), stream(true));
    assert.equal(context.style("red", "x"), "x");
    assert.equal(context.isTerminal, false);
  });
  withEnv({ ...plain, NO_COLOR: "1", FORCE_COLOR: "1" }, () => {
    assert.equal(new CliContext(stream(true), stream(true)).style("red", "x"), "x");
  });
});

test("a plan in a hint to copy is a word the command reads as a plan: a leading dash, a line break", () => {
  const context = new CliContext(stream(false), stream(false));
  assert.equal(context.planWords("-p"), "./-p");
  assert.equal(context.planWords("nl\np", ["V=1"]), "--set V=1 $'nl\\np'");
});
