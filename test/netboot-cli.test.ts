/**
 * `rootstock netboot`'s refusals: each names the value and says what to do, before anything is built.
 * (The command at work, building and serving the flagship plan to QEMU, is in netboot-qemu.test.ts.)
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { runCli, STACK_LINE } from "./helpers/cli.ts";

const PLAN = join(import.meta.dirname, "plans", "netboot");
let store: string;

before(async () => {
  store = await mkdtemp(join(tmpdir(), "rootstock-netboot-cli-"));
});

after(async () => {
  await rm(store, { recursive: true, force: true });
});

async function refused(args: string[], code: string, message: RegExp, hint: RegExp): Promise<void> {
  const result = await runCli(["--store", store, "netboot", PLAN, ...args]);
  assert.equal(result.code, 1, result.stdout);
  assert.match(result.stderr, new RegExp(`\\[${code}\\]`));
  assert.match(result.stderr, message);
  assert.match(result.stderr, hint);
  assert.doesNotMatch(result.stderr, STACK_LINE);
}

describe("rootstock netboot refuses", () => {
  test("an image that is not a netboot image, or no name when there are several", async () => {
    await refused(
      ["disk"],
      "ERR_NETBOOT_NO_IMAGE",
      /image "disk" of plan netboot-fixture has no \[netboot\] table/,
      /netboot images of this plan: system, minimal/,
    );
    await refused(
      [],
      "ERR_NETBOOT_NO_IMAGE",
      /has 2 netboot images: system, minimal/,
      /rootstock netboot PLAN IMAGE/,
    );
  });

  test("a --listen, --public-url or --out it cannot use", async () => {
    await refused(
      ["system", "--listen", "localhost:80"],
      "ERR_NETBOOT_LISTEN",
      /--listen "localhost:80": localhost is not an IPv4 address/,
      /ADDRESS:PORT/,
    );
    await refused(
      ["system", "--listen", "127.0.0.1:99999"],
      "ERR_NETBOOT_LISTEN",
      /expected a port from 0 to 65535/,
      /ADDRESS:PORT/,
    );
    await refused(
      ["system", "--public-url", "ftp://x/"],
      "ERR_NETBOOT_PUBLIC_URL",
      /must be a plain http:\/\/ URL/,
      /plain HTTP/,
    );
    await refused(
      ["system", "--out", join(store, "out")],
      "ERR_NETBOOT_OUT_NEEDS_URL",
      /--out .* needs --public-url/,
      /--public-url http:\/\//,
    );
    // Refused before any run began.
    assert.deepEqual(await readdir(join(store, "runs")).catch(() => []), []);
  });
});
