import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, test } from "node:test";
import {
  formatDuration,
  parseDuration,
  parseSize,
  pathWord,
  printableLine,
  shellWord,
  typedWord,
} from "./units.ts";

test("durations", () => {
  assert.equal(parseDuration("90s"), 90_000);
  assert.equal(parseDuration("1h30m"), 5_400_000);
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration(45), 45_000);
  for (const bad of ["soon", "", "10", "-5s", "1x"]) assert.equal(parseDuration(bad), undefined, bad);
  assert.equal(parseDuration(0), undefined);
  assert.equal(formatDuration(65_000), "1m05s");
});

test("sizes", () => {
  assert.equal(parseSize("64M"), 64 * 1024 * 1024);
  assert.equal(parseSize("1GiB"), 1024 ** 3);
  assert.equal(parseSize(4096), 4096);
  assert.equal(parseSize("big"), undefined);
});

test("lines of output are made fit to show", () => {
  assert.equal(printableLine("plain\ttext"), "plain\ttext");
  assert.equal(printableLine("10%\r50%\r100%"), "100%");
  assert.equal(printableLine("crlf line\r"), "crlf line");
  // Escape sequences go whole (a colour code would leave "[1;31m" behind); other control characters show.
  assert.equal(printableLine("\u001b[2J\u001b]0;title\u0007bell"), "bell");
  assert.equal(printableLine("c1 \u009b31m"), "c1 ");
  assert.equal(printableLine("\u001b[1;31mERROR:\u001b[0m bad"), "ERROR: bad");
  assert.equal(printableLine("lone \u001b esc, bell\u0007"), "lone \ufffd esc, bell\ufffd");
  const long = printableLine("x".repeat(100_000));
  assert.equal(long, `${"x".repeat(400)}…`);
});

describe("shellWord", () => {
  test("leaves a plain word alone", () => {
    assert.equal(shellWord("plans/tiny-linux"), "plans/tiny-linux");
    assert.equal(shellWord("http://10.0.2.2:8080/"), "http://10.0.2.2:8080/");
  });

  test("any text reads back from sh as the same single word", () => {
    for (const text of [
      "",
      "a b",
      "it's",
      "$HOME",
      "`x`",
      "a\nb",
      "tab\there",
      "*",
      "~",
      "-n",
      "x;y",
      '"q"',
      "é",
    ]) {
      const echoed = execFileSync("sh", ["-c", `printf '%s' ${shellWord(text)}`], { encoding: "utf8" });
      assert.equal(echoed, text, shellWord(text));
    }
  });

  test("control characters are written as $'…' escapes, on one line, and read back from bash as themselves", () => {
    for (const text of ["a\nb", "tab\there", "esc\u001b[31m", "it's\n\\", "\u0085x"]) {
      const word = typedWord(text);
      assert.doesNotMatch(word, /\p{Cc}/u, word);
      const echoed = execFileSync("bash", ["-c", `printf '%s' ${word}`], { encoding: "utf8" });
      assert.equal(echoed, text, word);
    }
  });

  test("a path that begins with a dash is not taken for an option", () => {
    assert.equal(pathWord("-p"), "./-p");
    assert.equal(pathWord("/abs/-p"), "/abs/-p");
  });
});
