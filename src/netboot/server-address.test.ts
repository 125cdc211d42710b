import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { RootstockError } from "../errors.ts";
import { formatHostPort, parseListen, publicBaseUrl } from "./server-address.ts";

const refused = (code: string) => (error: unknown) => error instanceof RootstockError && error.code === code;

describe("parseListen", () => {
  test("address and port, in every spelling", () => {
    assert.deepEqual(parseListen("127.0.0.1:8080"), { host: "127.0.0.1", port: 8080 });
    assert.deepEqual(parseListen("0.0.0.0:80"), { host: "0.0.0.0", port: 80 });
    assert.deepEqual(parseListen("[::1]:9000"), { host: "::1", port: 9000 });
    assert.deepEqual(parseListen("[::]"), { host: "::", port: 8080 });
    assert.deepEqual(parseListen("10.0.0.5"), { host: "10.0.0.5", port: 8080 });
    assert.deepEqual(parseListen(":0"), { host: "127.0.0.1", port: 0 });
    assert.deepEqual(parseListen("9999"), { host: "127.0.0.1", port: 9999 });
  });

  test("anything else is a user error that names the value", () => {
    for (const text of [
      "localhost:80",
      "1.2.3:80",
      "::1:80",
      "[1.2.3.4]:80",
      "127.0.0.1:",
      "127.0.0.1:x",
      "127.0.0.1:70000",
      "a b",
    ]) {
      assert.throws(() => parseListen(text), refused("ERR_NETBOOT_LISTEN"), text);
    }
    assert.throws(
      () => parseListen("127.0.0.1:99999"),
      /--listen "127.0.0.1:99999": expected a port from 0 to 65535/,
    );
    // A name, or a port with a typo, is not offered IPv6 brackets.
    for (const text of ["localhost:18083", "8080x"]) {
      assert.throws(
        () => parseListen(text),
        (error: unknown) =>
          error instanceof RootstockError &&
          /is not an IPv4 address \(a name such as localhost is not taken\)/.test(error.message) &&
          !error.message.includes("for IPv6"),
        text,
      );
    }
  });
});

describe("publicBaseUrl", () => {
  test("a plain http URL becomes a base ending in /", () => {
    assert.equal(publicBaseUrl("http://192.168.1.10:8080").href, "http://192.168.1.10:8080/");
    assert.equal(publicBaseUrl("http://boot.lan/netboot").href, "http://boot.lan/netboot/");
    assert.equal(publicBaseUrl("http://[fd00::1]:81/").href, "http://[fd00::1]:81/");
  });

  test("other schemes, queries, users and characters scripts would misread are refused", () => {
    for (const text of [
      "https://boot.lan/",
      "ftp://boot.lan/",
      "boot.lan:8080",
      "http://boot.lan/?x=1",
      "http://boot.lan/#x",
      "http://user@boot.lan/",
      "http://boot.lan/$x/",
      "http://boot.lan/it's/",
      "http://boot.lan/a b/",
    ]) {
      assert.throws(() => publicBaseUrl(text), refused("ERR_NETBOOT_PUBLIC_URL"), text);
    }
  });
});

test("formatHostPort brackets IPv6", () => {
  assert.equal(formatHostPort("127.0.0.1", 80), "127.0.0.1:80");
  assert.equal(formatHostPort("::1", 80), "[::1]:80");
});
