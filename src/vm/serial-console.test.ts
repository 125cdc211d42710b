import assert from "node:assert/strict";
import { test } from "node:test";
import type { RootstockEvent } from "../events.ts";
import { cleanConsoleText, SerialConsole } from "./serial-console.ts";

test("bytes become clean lines, whatever the chunking", () => {
  const events: RootstockEvent[] = [];
  const console = new SerialConsole({ machine: "m", emit: (event) => events.push(event) });
  const text = Buffer.from("SeaBIOS\r\nLinux é\r\n\u001b[?7l\u001b[2Jmessage\r\n/ # \u001b[6n");
  // One byte at a time splits CRLF pairs and the two bytes of é.
  for (const byte of text) console.feed(Buffer.from([byte]));
  assert.deepEqual(console.linesSince(0), ["SeaBIOS", "Linux é", "message"]);
  assert.equal(console.partial, "/ # ");
  assert.deepEqual(
    events.map((event) => (event.type === "vm:console" ? event.line : "")),
    ["SeaBIOS", "Linux é", "message"],
  );
  assert.deepEqual(console.tail(2), ["message", "/ # "]);
  assert.equal(console.lineCount, 3);
});

test("breakLine ends the partial line so that what follows starts afresh", () => {
  const console = new SerialConsole({ machine: "m" });
  const updates: string[][] = [];
  console.onUpdate(({ lines }) => updates.push(lines));
  console.feed(Buffer.from("/ # "));
  console.breakLine();
  console.feed(Buffer.from("SeaBIOS\n"));
  assert.deepEqual(console.linesSince(0), ["/ # ", "SeaBIOS"]);
  assert.deepEqual(console.linesSince(1), ["SeaBIOS"]);
  assert.deepEqual(updates, [[], ["/ # "], ["SeaBIOS"]]);
  console.breakLine();
  assert.equal(console.lineCount, 2, "nothing to break when there is no partial line");
});

test("old lines are let go past the limit, positions stay valid", () => {
  const console = new SerialConsole({ machine: "m", maxLines: 3 });
  console.feed(Buffer.from("1\n2\n3\n4\n5\n"));
  assert.equal(console.lineCount, 5);
  assert.deepEqual(console.linesSince(3), ["4", "5"]);
  assert.deepEqual(console.linesSince(0), ["3", "4", "5"]);
});

test("writes go to the connected socket", () => {
  const console = new SerialConsole({ machine: "m" });
  const written: string[] = [];
  console.write("lost before connecting\n");
  console.connect((data) => written.push(String(data)));
  console.write("ls\n");
  assert.deepEqual(written, ["ls\n"]);
});

test("escape sequences and control characters are removed, tabs kept", () => {
  assert.equal(cleanConsoleText("\u001b[1;32mok\u001b[0m\tdone\r\u0007"), "ok\tdone");
  assert.equal(cleanConsoleText("\u001b]0;title\u0007text\u001bc"), "text");
});
