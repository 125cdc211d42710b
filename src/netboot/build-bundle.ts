/**
 * A netboot bundle in the store: `<store>/netboot/<key>/` holds vmlinuz, initrd.img (the RAM root, and
 * the squashfs appended when it is small enough and the plan asks), system.squashfs (otherwise) and
 * manifest.json. The key is the hash of the inputs, so a bundle is made once; it is assembled beside
 * the store, checked, and renamed into place.
 */
import { digestFile, sha256Json, sha256Text } from "../digest.ts";
import { RootstockError } from "../errors.ts";
import { type Emit, ignoreEvents } from "../events.ts";
import { renameIntoPlace } from "../store/entry-rename.ts";
import { isObject, readJsonFile } from "../store/read-json.ts";
import { StoreLocks } from "../store/store-locks.ts";
import { uniqueSuffix } from "../unique.ts";
import { monotonicMs } from "../units.ts";
import {
  type BundleFile,
  EMBEDDED_SQUASHFS,
  NETBOOT_FORMAT,
  type NetbootManifest,
} from "./netboot-manifest.ts";
import { appendNewcArchive } from "./newc-archive.ts";
import { hostRunsArch, REQUIRED_APPLETS, ramRootScripts, stageRamRoot } from "./ram-root.ts";
import { listSquashfs, resolveInImage } from "./squashfs-listing.ts";

const { copyFile, link, mkdir, rm, writeFile } = process.getBuiltinModule("node:fs/promises");
const { join } = process.getBuiltinModule("node:path");
const { existsSync } = process.getBuiltinModule("node:fs");

export interface BuiltFile {
  path: string;
  sha256: string;
  size: number;
}

/**
 * Makes an initramfs from a folder (compressed; device nodes are the builder's business). `identity`
 * names the builder and its settings, for the bundle key: another builder, another bundle.
 */
export interface InitramfsBuilder {
  identity: string;
  build(tree: { name: string; dir: string }, options: { signal?: AbortSignal }): Promise<BuiltFile>;
}

export interface NetbootInputs {
  plan: string;
  image: string;
  /** The plan's architecture, which busybox must match. */
  arch: string;
  kernel: { path: string; sha256?: string };
  /** The busybox binary, and how messages name it (`busybox:bin/busybox`). */
  busybox: { path: string; label: string };
  /** The system's squashfs image. */
  squashfs: { path: string; sha256?: string };
  /** The system's init inside the squashfs. */
  init: string;
  /** The kernel's and the image's cmdline, before rootstock's parameters. */
  cmdline: string;
  /** Put the squashfs inside the initramfs when it is at most this many bytes (default: never). */
  embedMaxBytes?: number;
}

export interface BuildBundleOptions {
  storeDir: string;
  initramfs: InitramfsBuilder;
  /**
   * Called with the bundle's key before the store is looked at: a run lists the key here (run.json),
   * so that a gc running meanwhile keeps the entry (gc puts back what a live run lists).
   */
  register?: (key: string) => Promise<void>;
  emit?: Emit;
  signal?: AbortSignal;
}

export interface NetbootBundle {
  /** The store entry folder. */
  dir: string;
  manifest: NetbootManifest;
  /** True when it was already in the store. */
  cached: boolean;
}

export function bundleStoreDir(storeDir: string): string {
  return join(storeDir, "netboot");
}

/** Where bundles are assembled, and gc puts evicted ones. */
export function bundleTmpDir(storeDir: string): string {
  return join(bundleStoreDir(storeDir), "tmp");
}

/** The store lock a process holds while it assembles a bundle in `bundleTmpDir()/name`. */
export function scratchLockName(name: string): string {
  return `netboot-scratch:${name}`;
}

export async function buildNetbootBundle(
  inputs: NetbootInputs,
  options: BuildBundleOptions,
): Promise<NetbootBundle> {
  const emit = options.emit ?? ignoreEvents;
  const signal = options.signal;
  const started = monotonicMs();
  const kernel = await fileDigest(inputs.kernel, signal);
  const squashfs = await fileDigest(inputs.squashfs, signal);
  const busybox = await digestFile(inputs.busybox.path, signal).catch(() => undefined);
  const scripts = await ramRootScripts();
  const embed = inputs.embedMaxBytes !== undefined && squashfs.size <= inputs.embedMaxBytes;
  const key = sha256Json({
    format: NETBOOT_FORMAT,
    plan: inputs.plan,
    image: inputs.image,
    arch: inputs.arch,
    kernel: kernel.sha256,
    squashfs: squashfs.sha256,
    busybox: busybox?.sha256 ?? `missing:${inputs.busybox.path}`,
    scripts: sha256Text(scripts.init + scripts.udhcpc),
    initramfs: options.initramfs.identity,
    init: inputs.init,
    cmdline: inputs.cmdline,
    embed,
  });
  await options.register?.(key);
  const root = bundleStoreDir(options.storeDir);
  const dir = join(root, key);
  const found = await readManifest(dir);
  if (found) {
    // A cached bundle says again what making it could not check.
    emit({
      type: "netboot:bundle",
      image: inputs.image,
      key,
      dir,
      cached: true,
      bytes: bundleBytes(found),
      // A bundle from before the manifest said so: unchecked when this host cannot run its busybox.
      ...(found.ramRoot.appletsChecked === false ||
      (found.ramRoot.appletsChecked === undefined &&
        found.arch !== undefined &&
        hostRunsArch(found.arch) === false)
        ? appletsUnchecked(found.arch ?? inputs.arch)
        : {}),
    });
    return { dir, manifest: found, cached: true };
  }

  await checkInit(inputs, signal);
  const scratchName = `${key.slice(0, 16)}.${uniqueSuffix()}`;
  const scratch = join(bundleTmpDir(options.storeDir), scratchName);
  // Held while the scratch folder is in use: gc removes only scratch folders whose lock is free.
  const lock = await new StoreLocks(options.storeDir).tryAcquire(scratchLockName(scratchName), {
    runId: "",
    pid: process.pid,
    what: `netboot bundle ${inputs.image}`,
  });
  await mkdir(scratch, { recursive: true });
  try {
    const ramRoot = await stageRamRoot(inputs.busybox.path, join(scratch, "ramroot"), {
      label: inputs.busybox.label,
      arch: inputs.arch,
    });
    const initramfs = await options.initramfs.build(
      { name: `${inputs.image}-ramroot`, dir: ramRoot.dir },
      signal === undefined ? {} : { signal },
    );
    const entry = join(scratch, "entry");
    // Closed to other users, as an image's folder is: it holds the image (a hard link to it), with its
    // contents' private files (/etc/shadow, host keys).
    await mkdir(entry, { mode: 0o700 });
    await linkOrCopy(inputs.kernel.path, join(entry, "vmlinuz"));
    await copyFile(initramfs.path, join(entry, "initrd.img"));
    if (embed) {
      await appendNewcArchive(
        join(entry, "initrd.img"),
        [
          { kind: "dir", path: EMBEDDED_SQUASHFS.slice(1).split("/")[0] as string },
          {
            kind: "file",
            path: EMBEDDED_SQUASHFS.slice(1),
            source: inputs.squashfs.path,
            size: squashfs.size,
          },
        ],
        signal === undefined ? {} : { signal },
      );
    } else {
      await linkOrCopy(inputs.squashfs.path, join(entry, "system.squashfs"));
    }

    // What was assembled is what was keyed: an input that changed meanwhile must not enter the store.
    await expectDigest(join(entry, "vmlinuz"), kernel, inputs.kernel.path, signal);
    if (!embed) await expectDigest(join(entry, "system.squashfs"), squashfs, inputs.squashfs.path, signal);
    const initrd = await digestFile(join(entry, "initrd.img"), signal);
    const manifest: NetbootManifest = {
      format: NETBOOT_FORMAT,
      key,
      plan: inputs.plan,
      image: inputs.image,
      arch: inputs.arch,
      files: {
        vmlinuz: kernel,
        "initrd.img": { sha256: initrd.sha256, size: initrd.size },
        ...(embed ? {} : { "system.squashfs": squashfs }),
      },
      cmdline: inputs.cmdline,
      init: inputs.init,
      squashfs: { ...squashfs, ...(embed ? { embedded: EMBEDDED_SQUASHFS } : {}) },
      ramRoot: {
        busybox: ramRoot.busybox,
        bytes: initramfs.size,
        ...(ramRoot.appletsChecked ? {} : { appletsChecked: false as const }),
      },
    };
    await writeFile(join(entry, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
    // Another run may have committed the same key first: both are the same bundle. A damaged one gives way.
    if (existsSync(dir) && !(await readManifest(dir))) await rm(dir, { recursive: true, force: true });
    await renameIntoPlace(entry, dir);
    const committed = (await readManifest(dir)) ?? manifest;
    emit({
      type: "netboot:bundle",
      image: inputs.image,
      key,
      dir,
      cached: false,
      bytes: bundleBytes(committed),
      ms: monotonicMs() - started,
      ...(ramRoot.appletsChecked ? {} : appletsUnchecked(inputs.arch)),
    });
    return { dir, manifest: committed, cached: false };
  } finally {
    await rm(scratch, { recursive: true, force: true });
    await lock?.release();
  }
}

function appletsUnchecked(arch: string): { appletsUnchecked: string } {
  return {
    appletsUnchecked: `its busybox is for ${arch}, which this host cannot run to ask for its applets (${REQUIRED_APPLETS.join(", ")} are linked as they are)`,
  };
}

/** The bundle's manifest; one damaged into another shape is none, and the bundle is made again. */
export async function readManifest(dir: string): Promise<NetbootManifest | undefined> {
  const read = await readJsonFile(join(dir, "manifest.json"));
  if (!isObject(read)) return undefined;
  const manifest = read as unknown as NetbootManifest;
  const file = (value: unknown) =>
    isObject(value) && typeof value.sha256 === "string" && typeof value.size === "number";
  const whole =
    manifest.format === NETBOOT_FORMAT &&
    typeof manifest.key === "string" &&
    typeof manifest.cmdline === "string" &&
    typeof manifest.files === "object" &&
    manifest.files !== null &&
    file(manifest.files.vmlinuz) &&
    file(manifest.files["initrd.img"]) &&
    (manifest.files["system.squashfs"] === undefined || file(manifest.files["system.squashfs"]));
  return whole ? manifest : undefined;
}

function bundleBytes(manifest: NetbootManifest): number {
  return Object.values(manifest.files).reduce((sum, file) => sum + (file?.size ?? 0), 0);
}

async function fileDigest(
  file: { path: string; sha256?: string },
  signal?: AbortSignal,
): Promise<BundleFile> {
  const digest = await digestFile(file.path, signal).catch((error: NodeJS.ErrnoException) => {
    throw new RootstockError(
      "ERR_NETBOOT_INPUT_MISSING",
      `cannot read ${file.path}: ${error.code ?? error.message}`,
      {
        hint: "build the plan first (rootstock run PLAN), so that the kernel and the image exist",
      },
    );
  });
  if (file.sha256 !== undefined && digest.sha256 !== file.sha256) {
    throw new RootstockError(
      "ERR_NETBOOT_INPUT_CHANGED",
      `${file.path} has sha256 ${digest.sha256}, but its store entry says ${file.sha256}`,
      { hint: "a store entry was modified in place; remove it and build again" },
    );
  }
  return { sha256: digest.sha256, size: digest.size };
}

async function expectDigest(
  path: string,
  expected: BundleFile,
  source: string,
  signal?: AbortSignal,
): Promise<void> {
  const actual = await digestFile(path, signal);
  if (actual.sha256 !== expected.sha256 || actual.size !== expected.size) {
    throw new RootstockError("ERR_NETBOOT_INPUT_CHANGED", `${source} changed while the bundle was made`, {
      hint: "run the command again once nothing writes to the store",
    });
  }
}

/** The system's init must be in the image, and lead (through its links) to an executable file. */
async function checkInit(inputs: NetbootInputs, signal?: AbortSignal): Promise<void> {
  const listing = await listSquashfs(inputs.squashfs.path, signal);
  const resolved = resolveInImage(listing, inputs.init);
  const where = { hint: "set [images.NAME.netboot] init to the path of the system's init inside the image" };
  if (!resolved.found) {
    const chain = resolved.via.length === 0 ? "" : ` (${resolved.via.join(", ")})`;
    throw new RootstockError(
      "ERR_NETBOOT_INIT_MISSING",
      `image "${inputs.image}" has no ${resolved.missing}, so its init ${inputs.init} cannot start${chain}`,
      where,
    );
  }
  if (resolved.entry.type !== "file" || !resolved.entry.executable) {
    throw new RootstockError(
      "ERR_NETBOOT_INIT_NOT_EXECUTABLE",
      `the init ${inputs.init} of image "${inputs.image}" leads to ${resolved.path}, which is ${resolved.entry.type === "file" ? "not executable" : `a ${resolved.entry.type}`}`,
      where,
    );
  }
}

/** Hard links share the bytes of an immutable store entry; another file system gets a copy. */
async function linkOrCopy(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch {
    await copyFile(from, to);
  }
}
