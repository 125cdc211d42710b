import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { addDebSrcDeb822, addDebSrcOneLine } from "./enable-deb-src.ts";

describe("addDebSrcDeb822", () => {
  test("adds deb-src to enabled deb stanzas only, keeping everything else", () => {
    const text = [
      "# the main archive",
      "Types: deb",
      "URIs: http://mirror.example/debian",
      "Suites: bookworm bookworm-updates",
      "Components: main",
      "",
      "Types: deb deb-src",
      "URIs: http://mirror.example/debian-security",
      "Suites: bookworm-security",
      "",
      "Types: deb",
      "Enabled: no",
      "URIs: http://mirror.example/other",
      "",
    ].join("\n");
    const edit = addDebSrcDeb822(text);
    assert.equal(edit.added, 1);
    assert.equal(edit.hadDebSrc, true);
    const lines = edit.text.split("\n");
    assert.equal(lines[0], "# the main archive");
    assert.equal(lines[1], "Types: deb deb-src");
    assert.equal(lines[6], "Types: deb deb-src");
    assert.equal(lines[10], "Types: deb", "a disabled stanza is left alone");
    assert.deepEqual(
      addDebSrcDeb822(edit.text),
      { text: edit.text, added: 0, hadDebSrc: true },
      "idempotent",
    );
  });
});

describe("addDebSrcOneLine", () => {
  test("gives each deb line a matching deb-src line, once", () => {
    const text = [
      "deb [signed-by=/usr/share/keyrings/k.gpg] http://mirror.example/debian bookworm main",
      "# deb-src http://mirror.example/debian bookworm main",
      "deb http://mirror.example/debian-security bookworm-security main  # security",
      "deb-src http://mirror.example/debian-security bookworm-security main",
      "",
    ].join("\n");
    const edit = addDebSrcOneLine(text);
    assert.equal(edit.added, 1);
    assert.equal(edit.hadDebSrc, true);
    assert.deepEqual(edit.text.split("\n").slice(0, 3), [
      "deb [signed-by=/usr/share/keyrings/k.gpg] http://mirror.example/debian bookworm main",
      "deb-src [signed-by=/usr/share/keyrings/k.gpg] http://mirror.example/debian bookworm main",
      "# deb-src http://mirror.example/debian bookworm main",
    ]);
    assert.equal(addDebSrcOneLine(edit.text).added, 0, "idempotent");
  });
});
