/**
 * Tree or archive for store entries, measured on a realistic output: a copy of a header tree (by
 * default /usr/include, several thousand files including the kernel's UAPI headers).
 *
 * For each format, what the engine pays to commit an output and what a consumer pays to use it:
 *   tree     commit: rename into place + manifest (every file hashed)
 *            use:    compose a root of hard links (a step with root = "deps"), or read in place
 *   archive  commit: tar the tree + hash the archive
 *            use:    unpack it
 *
 *   node bench/store-format.ts [DIR]
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { composeRoot } from "../src/build/compose-root.ts";
import { digestFile } from "../src/digest.ts";
import { computeManifest } from "../src/store/manifest.ts";

const source = process.argv[2] ?? "/usr/include";
const base = await mkdtemp(join(tmpdir(), "rootstock-store-format-"));

async function timed<T>(work: () => Promise<T> | T): Promise<[number, T]> {
  const started = performance.now();
  const result = await work();
  return [performance.now() - started, result];
}

function copy(to: string): void {
  execFileSync("cp", ["-a", source, to]);
  execFileSync("sync");
}

function duBytes(path: string): number {
  return Number(execFileSync("du", ["-sb", path], { encoding: "utf8" }).split("\t")[0]);
}

const rows: [string, string, string][] = [];
try {
  copy(join(base, "out"));
  const [, manifest] = await timed(() => computeManifest(join(base, "out")));
  const files = manifest.entries.length;

  // Tree: rename + manifest. Page cache warm for both formats (the output was just written).
  const [treeCommit] = await timed(async () => {
    await rename(join(base, "out"), join(base, "entry"));
    await computeManifest(join(base, "entry"));
  });
  const [treeCompose, composed] = await timed(() => composeRoot(join(base, "root"), [join(base, "entry")]));
  const treeBytes = duBytes(join(base, "entry"));

  // Archive: tar + hash; unpack to use.
  copy(join(base, "out2"));
  const archive = join(base, "entry.tar");
  const [archiveCommit] = await timed(async () => {
    execFileSync("tar", ["-cf", archive, "-C", join(base, "out2"), "."]);
    await digestFile(archive);
  });
  const archiveBytes = duBytes(archive);
  const [archiveUnpack] = await timed(() => {
    execFileSync("mkdir", [join(base, "unpacked")]);
    execFileSync("tar", ["-xf", archive, "-C", join(base, "unpacked")]);
  });
  const zstd = join(base, "entry.tar.zst");
  const [zstdCommit] = await timed(async () => {
    execFileSync("tar", ["-cf", zstd, "--zstd", "-C", join(base, "out2"), "."]);
    await digestFile(zstd);
  });
  const zstdBytes = duBytes(zstd);
  const [zstdUnpack] = await timed(() => {
    execFileSync("mkdir", [join(base, "unpacked-zstd")]);
    execFileSync("tar", ["-xf", zstd, "-C", join(base, "unpacked-zstd")]);
  });

  const ms = (value: number) => `${value.toFixed(0)} ms`;
  const mib = (value: number) => `${(value / 1024 / 1024).toFixed(1)} MiB`;
  rows.push([
    "tree: commit (rename + manifest)",
    ms(treeCommit),
    `${files} entries, ${mib(manifest.bytes)} of files`,
  ]);
  rows.push(["tree: use (hard-link root)", ms(treeCompose), `${composed.linked} links, 0 bytes copied`]);
  rows.push(["tree: use (read in place)", "0 ms", "images and dependents read the entry directly"]);
  rows.push(["tree: disk", mib(treeBytes), ""]);
  rows.push(["tar: commit (tar + sha256)", ms(archiveCommit), ""]);
  rows.push(["tar: use (unpack)", ms(archiveUnpack), "every use writes the whole tree again"]);
  rows.push(["tar: disk", mib(archiveBytes), ""]);
  rows.push(["tar.zst: commit (tar + zstd + sha256)", ms(zstdCommit), ""]);
  rows.push(["tar.zst: use (unpack)", ms(zstdUnpack), ""]);
  rows.push(["tar.zst: disk", mib(zstdBytes), ""]);
} finally {
  await rm(base, { recursive: true, force: true });
}
const width = Math.max(...rows.map((row) => row[0].length));
process.stdout.write(`store format, measured on a copy of ${source}\n`);
for (const [what, value, note] of rows)
  process.stdout.write(`${what.padEnd(width)}  ${value.padStart(9)}  ${note}\n`);
