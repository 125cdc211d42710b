import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { readNewc } from "../../test/fixtures/read-newc.ts";
import { setNewcFields } from "./newc-headers.ts";

test("newc fields are rewritten in place, entry by entry, and the archive stays readable", async () => {
  const dir = await mkdtemp(join(tmpdir(), "rootstock-newc-"));
  try {
    const root = join(dir, "root");
    await mkdir(join(root, "d", "sub"), { recursive: true });
    // Names of every length modulo 4, and contents that are not a multiple of 4 bytes.
    await writeFile(join(root, "d", "abc"), "12345");
    await writeFile(join(root, "d", "sub", "abcd"), "1");
    const archive = join(dir, "a.cpio");
    execFileSync(
      "sh",
      ["-c", `find . | sort | cpio --create --format=newc --reproducible --quiet > "${archive}"`],
      {
        cwd: root,
      },
    );
    const seen: string[] = [];
    await setNewcFields(archive, (name, fields) => {
      seen.push(name);
      return name === "d/abc"
        ? { mode: 0o4111, nlink: fields.nlink }
        : { ...fields, nlink: name === "d" ? 10 : fields.nlink };
    });
    assert.deepEqual(
      seen,
      [".", "./d", "./d/abc", "./d/sub", "./d/sub/abcd"].map((name) => name.replace(/^\.\//, "")),
    );
    const entries = new Map(readNewc(await readFile(archive)).map((entry) => [entry.name, entry]));
    assert.equal(entries.get("d/abc")?.mode, 0o104111, "the file type is kept");
    assert.equal(entries.get("d/abc")?.data.toString(), "12345");
    assert.equal(entries.get("d")?.nlink, 10);
    // In upper case, as cpio writes its own fields.
    assert.ok((await readFile(archive)).includes("0000000A"));
    assert.equal(entries.get("d")?.mode, 0o040755);
    assert.equal(entries.get("d/sub/abcd")?.data.toString(), "1");
    // cpio itself still reads all of it.
    const listing = execFileSync("cpio", ["-itv", "--quiet", "-F", archive], { encoding: "utf8" });
    assert.match(listing, /^---s--x--x .* d\/abc$/m);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
