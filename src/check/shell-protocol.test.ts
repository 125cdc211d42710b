import assert from "node:assert/strict";
import { test } from "node:test";
import { RootstockError } from "../errors.ts";
import { commandScript, isReadyLine, ReplyReader, setupScript } from "./shell-protocol.ts";

/** What a guest prints for `output` and `status`: base64 of the output, a newline, the status marker. */
function encodedReply(id: string, output: Buffer, status: number): string[] {
  const encoded = Buffer.concat([output, Buffer.from(`\nRS-status:${id} ${status}\n`)]).toString("base64");
  const lines: string[] = [];
  for (let at = 0; at < encoded.length; at += 76) lines.push(encoded.slice(at, at + 76));
  return lines;
}

function read(reader: ReplyReader, lines: string[]) {
  for (const line of lines) {
    const reply = reader.feed(line);
    if (reply) return reply;
  }
  return undefined;
}

test("the script carries the command base64-encoded, in lines a tty accepts", () => {
  const command = `echo "$HOME" 'quote' \\ é ${"x".repeat(500)}`;
  const script = commandScript(command, "id1");
  assert.ok(!script.includes("$HOME"), "the command text never appears as such");
  const lines = script.split("\n");
  assert.ok(
    lines.every((line) => line.length < 400),
    "no line is long",
  );
  const body = lines.slice(2, lines.indexOf("__RS_id1__"));
  assert.equal(Buffer.from(body.join(""), "base64").toString("utf8"), command);
  assert.ok(!script.includes("RS-begin:id1"), "the begin marker is printed from two halves");
  assert.ok(script.endsWith("__RS_id1__\n"));
});

test("a reply is read between its markers, past the echo and a prompt before the marker", () => {
  const output = Buffer.from("hello\n\u0000\u00ff\r\nend");
  const reader = new ReplyReader("abc");
  const lines = [
    "/ # __rs() { … printf '%s%s\\n' 'RS-begin:' 'abc' … }",
    "> SGVsbG8=",
    "/ # RS-begin:abc",
    ...encodedReply("abc", output, 3),
    "RS-end:abc",
  ];
  const reply = read(reader, lines);
  assert.ok(reply);
  assert.equal(reply.status, 3);
  assert.deepEqual(reply.output, output);
  assert.equal(reader.feed("RS-end:abc"), undefined, "a reader reads one reply");
});

test("markers of another command are not taken for this one's", () => {
  const reader = new ReplyReader("two");
  assert.equal(
    read(reader, ["RS-begin:one", ...encodedReply("one", Buffer.from("x"), 0), "RS-end:one"]),
    undefined,
  );
  const reply = read(reader, ["RS-begin:two", ...encodedReply("two", Buffer.from("y"), 0), "RS-end:two"]);
  assert.equal(reply?.output.toString(), "y");
});

test("a kernel message between encoded lines is skipped", () => {
  const output = Buffer.alloc(300, 7);
  const encoded = encodedReply("k", output, 0);
  const reader = new ReplyReader("k");
  const reply = read(reader, [
    "RS-begin:k",
    encoded[0] as string,
    "[   12.345678] random: crng init done",
    ...encoded.slice(1),
    "RS-end:k",
  ]);
  assert.deepEqual(reply?.output, output);
});

test("text mixed into an encoded line is reported, never returned as output", () => {
  const encoded = encodedReply("g", Buffer.alloc(300, 1), 0);
  const broken = [
    (encoded[0] as string).slice(0, 30),
    `${(encoded[0] as string).slice(30)}`,
    ...encoded.slice(1),
  ];
  assert.throws(
    () => read(new ReplyReader("g"), ["RS-begin:g", ...broken, "RS-end:g"]),
    (error: unknown) => error instanceof RootstockError && error.code === "ERR_CHECK_GARBLED_REPLY",
  );
  assert.throws(
    () =>
      read(new ReplyReader("g"), [
        "RS-begin:g",
        ...encoded.slice(0, 1),
        "oops [mixed] text",
        ...encoded.slice(1),
        "RS-end:g",
      ]),
    (error: unknown) => error instanceof RootstockError && error.code === "ERR_CHECK_GARBLED_REPLY",
  );
});

test("a shell that printed no status (no base64 applet) gets a protocol error with a hint", () => {
  assert.throws(
    () => read(new ReplyReader("n"), ["RS-begin:n", "RS-end:n"]),
    (error: unknown) =>
      error instanceof RootstockError &&
      error.code === "ERR_CHECK_SHELL_PROTOCOL" &&
      /base64/.test(error.hint ?? ""),
  );
});

test("setup quietens the kernel when asked, keeps echo on, and answers with its id", () => {
  assert.match(setupScript("r1", { quietKernel: true }), /dmesg -n 1.*'RS-ready:' 'r1'/);
  assert.doesNotMatch(setupScript("r1", { quietKernel: true }), /stty/);
  assert.doesNotMatch(setupScript("r1", { quietKernel: false }), /dmesg/);
  assert.ok(isReadyLine("/ # RS-ready:r1", "r1"));
  assert.ok(!isReadyLine("/ # RS-ready:r10", "r1"));
});
