import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { test } from "node:test";
import {
  checkGuessedPackages,
  missingPackages,
  planRequirements,
  providingPackages,
  type Requirement,
} from "./doctor.ts";

test("plan tools map to the packages that provide them; others are only guessed", () => {
  const [makeinfo, objcopy, gperf] = planRequirements(["makeinfo", "objcopy", "gperf"]);
  assert.equal(makeinfo?.package, "texinfo");
  assert.equal(objcopy?.package, "binutils");
  assert.equal(makeinfo?.guessed, undefined);
  assert.deepEqual([gperf?.package, gperf?.guessed], ["gperf", true]);
});

test("a guessed package apt does not know is dropped, so that apt-get is not asked for it", async () => {
  const requirements = planRequirements(
    ["no-such-tool-rootstock-test", "make"],
    ["no-such-package-rootstock-test"],
  );
  await checkGuessedPackages(requirements);
  let hasApt = true;
  try {
    execFileSync("apt-cache", ["--version"], { stdio: "ignore" });
  } catch {
    hasApt = false;
  }
  assert.equal(requirements[0]?.package, hasApt ? undefined : "no-such-tool-rootstock-test");
  assert.equal(requirements[1]?.package, "make");
  assert.equal(
    requirements[2]?.package,
    hasApt ? undefined : "no-such-package-rootstock-test",
    "a declared one too",
  );
  const missing = missingPackages(requirements.map((requirement) => ({ requirement })));
  assert.deepEqual(
    missing,
    hasApt ? ["make"] : ["make", "no-such-package-rootstock-test", "no-such-tool-rootstock-test"],
  );
});

test("a tool's version is asked the ways tools answer, and an error is no version", async () => {
  const { identifyTool } = await import("./tools.ts");
  const awk = await identifyTool("mawk");
  if (awk) assert.match(awk.version, /^mawk \d/, "mawk answers -W version, not --version");
  const sh = await identifyTool("dash");
  if (sh) assert.equal(sh.version, "unknown", "dash has no version flag: its hash is its identity");
});

test("the packages that provide what was found are dpkg's, by the file's path or where its link leads", async () => {
  const sh = planRequirements(["sh"])[0] as Requirement;
  const missing = planRequirements(["no-such-tool-rootstock-test"])[0] as Requirement;
  const { packages, unprovided } = await providingPackages([
    // /usr/bin/sh on a merged-/usr host: dpkg knows it as /bin/sh, of dash.
    { requirement: { ...sh, package: "not-this-one" }, found: "/usr/bin/sh" },
    { requirement: { ...missing, package: "wanted-by-name" } },
    {
      requirement: { purpose: "a declared package", group: "plan", package: "tar" },
      found: "tar 1.34 (dpkg)",
    },
  ]);
  assert.deepEqual(packages, ["dash", "tar", "wanted-by-name"]);
  assert.deepEqual(unprovided, []);
  // A tool no package gives (installed by hand) is told apart, not left out in silence.
  const byHand = await providingPackages([
    { requirement: { ...missing, package: undefined }, found: "/etc/hostname" },
  ]);
  assert.deepEqual([byHand.packages, byHand.unprovided.length], [[], 1]);
  // One a known package is named for, but not this file: listed, and said all the same.
  const shadowing = await providingPackages([
    { requirement: { ...sh, package: "dash" }, found: "/etc/hostname" },
  ]);
  assert.deepEqual([shadowing.packages, shadowing.unprovided.length], [["dash"], 1]);
  // cc is an alternative: every package on its way to the compiler counts (gcc gives cc, gcc-12 the file).
  if (existsSync("/etc/alternatives/cc")) {
    const { packages: cc } = await providingPackages([{ requirement: sh, found: "/usr/bin/cc" }]);
    assert.ok(cc.includes("gcc") && cc.some((name) => /^gcc-\d+$/.test(name)), cc.join(" "));
  }
});
