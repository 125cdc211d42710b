import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, test } from "node:test";
import { shellWord } from "./shell-word.ts";

describe("shellWord", () => {
  test("leaves a plain word alone", () => {
    assert.equal(shellWord("plans/tiny-linux"), "plans/tiny-linux");
    assert.equal(shellWord("http://10.0.2.2:8080/"), "http://10.0.2.2:8080/");
  });

  test("any text reads back from sh as the same single word", () => {
    for (const text of ["", "a b", "it's", "$HOME", "`x`", "a\nb", "*", "~", "-n", "x;y", '"q"', "é"]) {
      const echoed = execFileSync("sh", ["-c", `printf '%s' ${shellWord(text)}`], { encoding: "utf8" });
      assert.equal(echoed, text, shellWord(text));
    }
  });
});
