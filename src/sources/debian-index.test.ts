import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { chooseDebianVersion, compareDebianVersions, parseSourceRecords } from "./debian-index.ts";

const ORIG = "31e066137a962676e89f69d1b65382de95a7ef7d914b8cb956f41ea72e0f516b";
const OTHER = "f".repeat(64);

// The shape of `apt-cache showsrc` output, with two versions of one package.
const SHOWSRC = `Package: hello
Binary: hello
Version: 2.10-3
Format: 3.0 (quilt)
Files:
 af0c4d1ec4eb1af8e20843cee44bbcde 1721 hello_2.10-3.dsc
 6cd0ffea3884a4e79330338dcc2987d6 725946 hello_2.10.orig.tar.gz
Checksums-Sha256:
 75296f5ef618ae2f1849e22b142a2b5ab52c452ebefa4e7b0564c44617db3790 1721 hello_2.10-3.dsc
 ${ORIG} 725946 hello_2.10.orig.tar.gz
 60ee7a466808301fbaa7fea2490b5e7a6d86f598956fb3e79c71b3295dc1f249 12684 hello_2.10-3.debian.tar.xz
Directory: pool/main/h/hello

Package: hello
Version: 2.12-1
Checksums-Sha256:
 ${"1".repeat(64)} 1800 hello_2.12-1.dsc
 ${OTHER} 1017723 hello_2.12.orig.tar.gz
 ${"2".repeat(64)} 13000 hello_2.12-1.debian.tar.xz

`;

describe("parseSourceRecords", () => {
  test("reads package, version and sha256 file lists", () => {
    const records = parseSourceRecords(SHOWSRC);
    assert.equal(records.length, 2);
    assert.equal(records[0]?.version, "2.10-3");
    assert.deepEqual(records[0]?.files[1], { sha256: ORIG, size: 725946, name: "hello_2.10.orig.tar.gz" });
    assert.equal(records[1]?.files.length, 3);
  });
});

describe("chooseDebianVersion", () => {
  const records = parseSourceRecords(SHOWSRC);
  const provider = { package: "hello", version: "2.10-3", file: "hello_2.10.orig.tar.gz" };

  test("the pinned version when it carries the pinned hash", () => {
    const choice = chooseDebianVersion(records, provider, ORIG);
    assert.deepEqual(choice.found && [choice.version, choice.exact, choice.file.name], [
      "2.10-3",
      true,
      "hello_2.10.orig.tar.gz",
    ]);
  });

  test("the pinned version under another file name is no exact match: the pin's file name is wrong", () => {
    const choice = chooseDebianVersion(records, { ...provider, file: "hello_wrong.orig.tar.gz" }, ORIG);
    assert.deepEqual(choice.found && [choice.version, choice.exact, choice.file.name], [
      "2.10-3",
      false,
      "hello_2.10.orig.tar.gz",
    ]);
  });

  test("another version carrying the same file after a revision bump", () => {
    const choice = chooseDebianVersion(records, { ...provider, version: "2.10-2" }, ORIG);
    assert.deepEqual(choice.found && [choice.version, choice.exact], ["2.10-3", false]);
  });

  test("nothing, with the newest version and its file of the same kind", () => {
    const choice = chooseDebianVersion(records, provider, "e".repeat(64));
    assert.equal(choice.found, false);
    assert.equal(!choice.found && choice.newest?.version, "2.12-1");
    assert.equal(!choice.found && choice.newest?.file?.name, "hello_2.12.orig.tar.gz");
    const debianTar = chooseDebianVersion(
      records,
      { ...provider, file: "hello_2.10-3.debian.tar.xz" },
      "e".repeat(64),
    );
    assert.equal(!debianTar.found && debianTar.newest?.file?.name, "hello_2.12-1.debian.tar.xz");
  });

  test("nothing at all for a package the index does not list", () => {
    assert.deepEqual(chooseDebianVersion(records, { ...provider, package: "absent" }, ORIG), {
      found: false,
    });
  });
});

describe("compareDebianVersions", () => {
  const ascending = ["0.9", "1.0~rc1", "1.0", "1.0-1", "1.0-1+b1", "1.0-2", "1.0a", "1.2", "1.10", "1:0.1"];
  test("sorts as dpkg does", () => {
    const shuffled = [...ascending].reverse();
    assert.deepEqual(shuffled.sort(compareDebianVersions), ascending);
  });
  test("equal versions compare equal", () => {
    assert.equal(compareDebianVersions("2.10-3", "2.10-3"), 0);
    assert.equal(compareDebianVersions("0:2.10-3", "2.10-3"), 0);
  });
});
