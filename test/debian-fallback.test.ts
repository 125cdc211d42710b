/**
 * The Debian provider when apt's index lists versions its mirror does not serve (a security pool left
 * out): every version that carries the pinned file is tried. apt-get and apt-cache are stand-ins here,
 * shell scripts first on PATH, so that the mirror's gaps are the test's to choose.
 */
import assert from "node:assert/strict";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { sha256Text } from "../src/digest.ts";
import { RootstockError } from "../src/errors.ts";
import { fetchDebianSource } from "../src/sources/debian-source.ts";

const BODY = "the orig tarball\n";
const SHA = sha256Text(BODY);
let work: string;
let path: string | undefined;

/** apt as a mirror that serves only `served` of the versions its index lists. */
async function fakeApt(served: string[]): Promise<void> {
  const bin = join(work, `bin-${served.join("-") || "none"}`);
  await rm(bin, { recursive: true, force: true });
  await writeFile(
    join(work, "showsrc"),
    ["2.7.6-7+deb12u1", "2.7.6-7", "2.7.6-5"]
      .map(
        (version) =>
          `Package: patch\nVersion: ${version}\nChecksums-Sha256:\n ${SHA} ${BODY.length} patch_2.7.6.orig.tar.xz\n`,
      )
      .join("\n"),
  );
  await mkdir(bin);
  await writeFile(join(bin, "apt-cache"), `#!/bin/sh\ncat ${join(work, "showsrc")}\n`);
  await writeFile(
    join(bin, "apt-get"),
    `#!/bin/sh
case "$1" in
  indextargets) echo Sources; exit 0 ;;
esac
version=\${4#patch=}
echo "$version" >> ${join(work, "tried")}
case " ${served.join(" ")} " in
  *" $version "*) printf '%s' '${BODY}' > patch_2.7.6.orig.tar.xz ;;
  *) echo "E: Failed to fetch patch_$version.dsc  404  Not Found" >&2; exit 100 ;;
esac
`,
  );
  await chmod(join(bin, "apt-cache"), 0o755);
  await chmod(join(bin, "apt-get"), 0o755);
  process.env.PATH = `${bin}:${path}`;
  await rm(join(work, "tried"), { force: true });
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), "rootstock-debian-fallback-"));
  path = process.env.PATH;
});
after(async () => {
  process.env.PATH = path;
  await rm(work, { recursive: true, force: true });
});

const provider = { package: "patch", version: "2.7.6-5", file: "patch_2.7.6.orig.tar.xz" };

test("a version the mirror lacks is followed by the next one that carries the file", async () => {
  await fakeApt(["2.7.6-7"]);
  const substitutes: string[] = [];
  const got = await fetchDebianSource(provider, SHA, {
    scratchDir: join(work, "scratch"),
    onSubstitute: (version) => substitutes.push(version),
  });
  try {
    assert.equal(got.version, "2.7.6-7");
    assert.equal(await readFile(got.path, "utf8"), BODY);
    // The pinned version first, then the others, newest first.
    assert.deepEqual((await readFile(join(work, "tried"), "utf8")).trim().split("\n"), [
      "2.7.6-5",
      "2.7.6-7+deb12u1",
      "2.7.6-7",
    ]);
    assert.deepEqual(substitutes, ["2.7.6-7+deb12u1", "2.7.6-7"]);
  } finally {
    await got.cleanup();
  }
});

test("when no version can be downloaded, the error names each one tried", async () => {
  await fakeApt([]);
  const error = await fetchDebianSource(provider, SHA, { scratchDir: join(work, "scratch") }).catch(
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof RootstockError);
  assert.equal(error.code, "ERR_DEBIAN_DOWNLOAD");
  for (const version of ["2.7.6-5", "2.7.6-7+deb12u1", "2.7.6-7"])
    assert.ok(
      error.message.includes(`apt-get source patch=${version} failed with exit status 100`),
      error.message,
    );
});
