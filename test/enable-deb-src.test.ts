/**
 * enableDebSrc on copies of apt sources files in a temp folder: the host's own files when it has any,
 * plus a one-line list and a deb822 file of the usual shapes. apt itself then reads the result.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { enableDebSrc, hasDebSrc } from "../src/sources/enable-deb-src.ts";

let work: string;
let aptDir: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "rootstock-deb-src-"));
  aptDir = join(work, "apt");
  const parts = join(aptDir, "sources.list.d");
  await mkdir(parts, { recursive: true });
  // Copies of the host's files, with deb-src taken out so that there is something to enable.
  for (const name of await readdir("/etc/apt/sources.list.d").catch(() => [] as string[])) {
    if (!name.endsWith(".sources")) continue;
    await copyFile(join("/etc/apt/sources.list.d", name), join(parts, `host-${name}`));
    const text = await readFile(join(parts, `host-${name}`), "utf8");
    await writeFile(join(parts, `host-${name}`), text.replace(/^Types:.*$/gm, "Types: deb"));
  }
  await writeFile(
    join(aptDir, "sources.list"),
    [
      "# one-line style, as older installs have it",
      "deb http://mirror.example/debian bookworm main",
      "# deb-src http://mirror.example/debian bookworm main",
      "deb http://mirror.example/debian-security bookworm-security main",
      "",
    ].join("\n"),
  );
  await writeFile(
    join(parts, "extra.sources"),
    "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm-updates\nComponents: main\n",
  );
  await writeFile(join(parts, "old.list.disabled"), "deb http://mirror.example/old bookworm main\n");
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

async function aptTargets(): Promise<string[]> {
  const config = join(work, "apt.conf");
  await writeFile(
    config,
    `Dir::Etc::SourceList "${aptDir}/sources.list";\nDir::Etc::SourceParts "${aptDir}/sources.list.d";\n`,
  );
  const output = execFileSync("apt-get", ["indextargets", "--format", "$(CREATED_BY)"], {
    env: { ...process.env, APT_CONFIG: config },
    encoding: "utf8",
  });
  return output.split("\n").filter(Boolean);
}

describe("enableDebSrc", () => {
  test("derives deb-src entries from deb ones, idempotently, and apt reads them", async () => {
    assert.equal(await hasDebSrc(aptDir), false);
    const first = await enableDebSrc(aptDir);
    assert.equal(first.enabled, true);
    const changed = Object.fromEntries(
      first.changed.map((item) => [item.file.slice(aptDir.length + 1), item.added]),
    );
    assert.equal(changed["sources.list"], 2);
    assert.equal(changed["sources.list.d/extra.sources"], 1);
    assert.equal(
      changed["sources.list.d/old.list.disabled"],
      undefined,
      "files apt does not read are left alone",
    );

    const list = await readFile(join(aptDir, "sources.list"), "utf8");
    assert.deepEqual(list.split("\n"), [
      "# one-line style, as older installs have it",
      "deb http://mirror.example/debian bookworm main",
      "deb-src http://mirror.example/debian bookworm main",
      "# deb-src http://mirror.example/debian bookworm main",
      "deb http://mirror.example/debian-security bookworm-security main",
      "deb-src http://mirror.example/debian-security bookworm-security main",
      "",
    ]);
    assert.match(
      await readFile(join(aptDir, "sources.list.d", "extra.sources"), "utf8"),
      /^Types: deb deb-src$/m,
    );
    assert.equal(
      await readFile(join(aptDir, "sources.list.d", "old.list.disabled"), "utf8"),
      "deb http://mirror.example/old bookworm main\n",
    );
    assert.equal(await hasDebSrc(aptDir), true);

    const second = await enableDebSrc(aptDir);
    assert.deepEqual(second, { changed: [], enabled: true }, "a second run changes nothing");
    assert.deepEqual(
      (await readdir(join(aptDir, "sources.list.d"))).filter((name) => name.endsWith(".tmp")),
      [],
      "no staging file is left behind",
    );

    const targets = await aptTargets();
    assert.ok(targets.includes("Sources"), `apt lists source indexes: ${targets.join(" ")}`);
  });
});
