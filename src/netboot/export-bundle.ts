/**
 * A bundle written out for use without rootstock: the files, boot.ipxe and kexec-boot rendered for the
 * server's public URL (any static HTTP server can then serve the folder), the dnsmasq proxy-DHCP/TFTP
 * configuration for a LAN with the iPXE binaries it hands out, and a README that says how to boot.
 * kexec-boot uses the kernel and initrd beside it, so the folder is also the kexec bundle.
 */
import { writeFileAtomically } from "../atomic-write.ts";
import { readStat } from "../build/process-tree.ts";
import { describeCause, RootstockError } from "../errors.ts";
import { fileSystemRefusal } from "../store/fs-refusal.ts";
import { otherUsersOwn } from "../store/owner.ts";
import { isObject, readJsonFile } from "../store/read-json.ts";
import type { NetbootBundle } from "./build-bundle.ts";
import { renderIndex } from "./bundle-entries.ts";
import { renderIpxeScript } from "./ipxe-script.ts";
import { renderKexecScript } from "./kexec-script.ts";
import { BUNDLE_FILES, bootsOnPc, notPcReason } from "./netboot-manifest.ts";
import { LAN_FILES, writeLanConfig } from "./write-lan-config.ts";

const { constants, readdirSync } = process.getBuiltinModule("node:fs");
const { access, chmod, copyFile, mkdir, mkdtemp, readdir, rename, rm, writeFile } =
  process.getBuiltinModule("node:fs/promises");
const { join, resolve } = process.getBuiltinModule("node:path");

export interface ExportOptions {
  /** The URL clients reach the server by. */
  base: URL;
  /** Folders searched for undionly.kpxe and ipxe.efi (default IPXE_FOLDERS). */
  ipxeFolders?: string[];
  /** dnsmasq's interface= line. */
  networkInterface?: string;
}

export interface ExportResult {
  dir: string;
  /** Every file written, relative to dir. */
  files: string[];
  dnsmasq?: string;
  /** Why there is no dnsmasq.conf, when there is none. */
  dnsmasqSkipped?: string;
  /** iPXE binaries the host does not have (the LAN setup needs them in tftp/). */
  missingIpxe: string[];
}

/** What an export lists of itself, so that the next export into the folder replaces exactly that. */
const EXPORT_RECORD = ".rootstock-export.json";

/** The folder inside --out an export is written to before it replaces the last one. */
const STAGING_PREFIX = ".rootstock-export-new.";

/** pid-start: what tells a process from a later one given its pid. */
function processMark(pid: number): string {
  return `${pid}-${readStat(pid)?.startTime ?? ""}`;
}

/** Whether the export that named its staging folder by `mark` still runs (another than this one). */
function stagingLives(mark: string): boolean {
  const pid = Number(mark.split("-")[0]);
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  return processMark(pid) === mark;
}

/** A freshly made file system's own lost+found, which is no one's files. */
function isEmptyFolder(path: string): boolean {
  try {
    return readdirSync(path).length === 0;
  } catch {
    return false;
  }
}

/** Every name an export may write (the LAN config's iPXE binaries under tftp/ included). */
const EXPORT_NAMES = [...BUNDLE_FILES, "boot.ipxe", "kexec-boot", "README.txt", ...LAN_FILES];

function writeRecord(dir: string, files: readonly string[]): void {
  writeFileAtomically(join(dir, EXPORT_RECORD), `${JSON.stringify({ files }, null, 2)}\n`);
}

/**
 * Makes the folder ready for an export, or refuses it: a folder holding files no export wrote is
 * someone's, and one that cannot be written fails now, before a long build. Returns what the last
 * export there wrote (to be replaced).
 */
export async function prepareExportFolder(target: string): Promise<string[]> {
  const dir = resolve(target);
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, constants.W_OK);
  } catch (error) {
    throw (
      fileSystemRefusal(error, undefined) ??
      new RootstockError("ERR_PATH_UNWRITABLE", `cannot write ${dir}: ${describeCause(error)}`, {
        hint: "give a folder you can write",
        cause: error,
      })
    );
  }
  // Its dnsmasq.conf and kexec-boot are run as root: a folder another user owns lets them change those.
  const other = otherUsersOwn(dir);
  if (other)
    throw new RootstockError(
      "ERR_NETBOOT_OUT_NOT_OWN",
      `--out ${dir} belongs to ${other.name}, not to this user`,
      {
        hint: "export into a folder of your own: its dnsmasq.conf and kexec-boot are meant to be run as root",
      },
    );
  const record = await readJsonFile(join(dir, EXPORT_RECORD));
  // Only names an export writes: a record damaged or written elsewhere must not name other files.
  const written =
    isObject(record) && Array.isArray(record.files)
      ? record.files.filter((file): file is string => typeof file === "string" && EXPORT_NAMES.includes(file))
      : [];
  // A new export is made in a folder of its own here first, named by its process (pid and start time,
  // as a pid is reused): one a killed export left is gone now, and one another export is writing stays.
  for (const name of await readdir(dir))
    if (
      name.startsWith(STAGING_PREFIX) &&
      !stagingLives(name.slice(STAGING_PREFIX.length).split(".")[0] ?? "")
    )
      await rm(join(dir, name), { recursive: true, force: true });
  const present = (await readdir(dir)).filter(
    (name) =>
      name !== EXPORT_RECORD &&
      !name.startsWith(STAGING_PREFIX) &&
      !(name === "lost+found" && isEmptyFolder(join(dir, name))),
  );
  const earlier = new Set(written.map((file) => file.split("/")[0]));
  const others = present.filter((name) => !earlier.has(name));
  if (!isObject(record) && others.length > 0) {
    const listed = `${others.slice(0, 5).join(", ")}${others.length > 5 ? ", …" : ""}`;
    // An export by a rootstock that kept no record looks just so: the bundle, its names and nothing else.
    const olderExport =
      BUNDLE_FILES.every((file) => others.includes(file)) &&
      others.every((name) => EXPORT_NAMES.some((file) => file.split("/")[0] === name));
    throw new RootstockError(
      "ERR_NETBOOT_OUT_NOT_EMPTY",
      olderExport
        ? `--out ${dir} holds what looks like an export by an older rootstock (${listed}), which recorded no list of its files (${EXPORT_RECORD})`
        : `--out ${dir} holds files that no export recorded (it has no ${EXPORT_RECORD}): ${listed}`,
      {
        hint: olderExport
          ? `remove that folder's files (they are the older export's) and export again; rootstock replaces only what an export recorded`
          : "give a new or empty folder; an export there replaces what the export before it wrote, and only that",
      },
    );
  }
  return written;
}

/**
 * Writes the export into a folder of its own inside `target`, and only once it is whole replaces the
 * last export's files with it: a disk that fills up, or a kill, leaves the last export as it was.
 */
export async function exportBundle(
  bundle: NetbootBundle,
  target: string,
  options: ExportOptions,
): Promise<ExportResult> {
  const dir = resolve(target);
  const earlier = await prepareExportFolder(dir);
  const staging = await mkdtemp(join(dir, `${STAGING_PREFIX}${processMark(process.pid)}.`));
  let made: ExportResult;
  try {
    made = await writeExport(bundle, staging, dir, options);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw fileSystemRefusal(error, undefined) ?? error;
  }
  // The record first, naming both exports' files: one killed while it swaps is recognised as its own.
  writeRecord(dir, [...new Set([...earlier, ...made.files])]);
  for (const file of earlier) if (!made.files.includes(file)) await rm(join(dir, file), { force: true });
  // dnsmasq.conf names tftp/ even when the iPXE binaries for it are to be copied in by hand.
  if (made.dnsmasq !== undefined || made.files.some((file) => file.startsWith("tftp/")))
    await mkdir(join(dir, "tftp"), { recursive: true });
  for (const file of made.files) await rename(join(staging, file), join(dir, file));
  await rm(staging, { recursive: true, force: true });
  writeRecord(dir, made.files);
  return made;
}

async function writeExport(
  bundle: NetbootBundle,
  staging: string,
  dir: string,
  options: ExportOptions,
): Promise<ExportResult> {
  const { manifest } = bundle;
  const files: string[] = [];
  const put = async (name: string, text: string, mode = 0o644) => {
    await writeFile(join(staging, name), text);
    await chmod(join(staging, name), mode);
    files.push(name);
  };
  for (const name of BUNDLE_FILES) {
    if (!manifest.files[name]) continue;
    // A copy (a reflink where the file system can): a hard link would let an edit here change the store.
    await copyFile(join(bundle.dir, name), join(staging, name), constants.COPYFILE_FICLONE);
    // The copy is the user's, to serve or edit: not read-only as the store's files are.
    await chmod(join(staging, name), 0o644);
    files.push(name);
  }
  await put("boot.ipxe", renderIpxeScript(manifest, options.base));
  await put("kexec-boot", renderKexecScript(manifest, options.base, { filesBeside: true }), 0o755);

  const lan = bootsOnPc(manifest)
    ? await writeLanConfig(staging, {
        placedAt: dir,
        base: options.base,
        title: `rootstock netboot: plan ${manifest.plan}, image ${manifest.image}`,
        ...(options.ipxeFolders === undefined ? {} : { ipxeFolders: options.ipxeFolders }),
        ...(options.networkInterface === undefined ? {} : { networkInterface: options.networkInterface }),
      })
    : { files: [], missingIpxe: [], dnsmasqSkipped: notPcReason(manifest.arch) };
  files.push(...lan.files);
  const { dnsmasq, dnsmasqSkipped, missingIpxe } = lan;
  await put(
    "README.txt",
    renderReadme({ index: renderIndex(manifest, options.base), dnsmasq, dnsmasqSkipped, missingIpxe }),
  );
  return {
    dir,
    files,
    missingIpxe,
    ...(dnsmasq === undefined ? {} : { dnsmasq }),
    ...(dnsmasqSkipped === undefined ? {} : { dnsmasqSkipped }),
  };
}

function renderReadme(parts: {
  index: string;
  dnsmasq: string | undefined;
  dnsmasqSkipped: string | undefined;
  missingIpxe: string[];
}): string {
  const lan =
    parts.dnsmasq === undefined
      ? [`No dnsmasq.conf: ${parts.dnsmasqSkipped}`]
      : [
          "For machines of a LAN that boot from the network (PXE), run as root on a machine of that LAN,",
          "while this folder is served at the URL above:",
          `  dnsmasq --no-daemon --conf-file=${parts.dnsmasq}`,
          ...(parts.missingIpxe.length === 0
            ? []
            : [
                `It hands out iPXE from tftp/, which lacks ${parts.missingIpxe.join(" and ")}: install the ipxe package`,
                "(or build iPXE) and copy them there.",
              ]),
        ];
  return [
    parts.index.trimEnd(),
    "",
    "This folder holds everything; serve it as it is with any static HTTP server, at the URL above.",
    "kexec-boot uses vmlinuz and initrd.img beside it when they are there.",
    "",
    ...lan,
    "",
  ].join("\n");
}
