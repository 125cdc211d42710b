/**
 * Builds an image, or finds it already built: the key covers the kind, settings, each layer's identity,
 * the plan files, owners, device nodes and the host tools that write it. A new image is staged and built
 * beside the store, checked, and renamed into place.
 */
import { digestFile, sha256Json } from "../digest.ts";
import { RootstockError } from "../errors.ts";
import { type Emit, ignoreEvents } from "../events.ts";
import { hostPath, packageOf } from "../host/doctor.ts";
import { identifyTool } from "../host/tools.ts";
import { FREE_SPACE } from "../store/fs-refusal.ts";
import { computeManifest } from "../store/manifest.ts";
import { type HeldLock, StoreLocks } from "../store/store-locks.ts";
import { monotonicMs } from "../units.ts";
import { buildExt4 } from "./build-ext4.ts";
import { buildInitramfs, INITRAMFS_COMPRESSORS } from "./build-initramfs.ts";
import { buildSquashfs } from "./build-squashfs.ts";
import { IMAGE_FORMAT, type ImageKeyInputs, imageKey } from "./image-key.ts";
import { CONSOLE_DEVICE, type DeviceNode, type ImageSpec, imagePath } from "./image-spec.ts";
import { type ImageManifest, ImageStore, imageFileName } from "./image-store.ts";
import { removeStagedTree, type StagedTree, stageTree } from "./stage-tree.ts";

const { mkdir, writeFile } = process.getBuiltinModule("node:fs/promises");
const { dirname, join } = process.getBuiltinModule("node:path");

export interface BuildImageOptions {
  /** The store folder; images go to `<store>/images/<key>/`. */
  storeDir: string;
  /**
   * Called with the image's key before the store is looked at: a run lists the key there (as
   * `RunSession.useEntries` does), so that gc, which spares what live runs list, keeps the entry.
   */
  register?: (key: string) => Promise<void>;
  emit?: Emit;
  signal?: AbortSignal;
}

export interface BuiltImage {
  name: string;
  kind: ImageSpec["kind"];
  key: string;
  /** The image file. */
  path: string;
  sha256: string;
  bytes: number;
  /** True when it was already in the store. */
  cached: boolean;
}

export async function buildImage(spec: ImageSpec, options: BuildImageOptions): Promise<BuiltImage> {
  const emit = options.emit ?? ignoreEvents;
  const devices = (spec.devices ?? []).map((device) => ({ ...device, path: imagePath(device.path) }));
  if (spec.kind === "initramfs" && !devices.some((device) => device.path === CONSOLE_DEVICE.path)) {
    devices.push(CONSOLE_DEVICE);
  }
  const owners = (spec.owners ?? []).map((owner) => ({ ...owner, path: imagePath(owner.path) }));
  const inputs = await keyInputs(spec, devices, owners, options.signal);
  const key = imageKey(inputs);
  const store = new ImageStore(options.storeDir);
  await options.register?.(key);

  const cached = (found: ImageManifest): BuiltImage => {
    const path = join(store.dir(key), found.file);
    emit({
      type: "image:cached",
      image: spec.name,
      key,
      kind: spec.kind,
      path,
      bytes: found.bytes,
      sha256: found.sha256,
    });
    return {
      name: spec.name,
      kind: spec.kind,
      key,
      path,
      sha256: found.sha256,
      bytes: found.bytes,
      cached: true,
    };
  };
  const found = await store.lookup(key);
  if (found) return cached(found);
  const lock = await buildLock(spec.name, key, options, emit);
  try {
    // Another process may have built it while this one waited for the lock.
    const built = await store.lookup(key);
    if (built) return cached(built);
    return await build(spec, { key, inputs, devices, owners, store, signal: options.signal, emit });
  } finally {
    await lock.release();
  }
}

/** The lock `image:<key>`: one build of an image at a time per store, and a sign of life for gc. */
async function buildLock(
  image: string,
  key: string,
  options: BuildImageOptions,
  emit: Emit,
): Promise<HeldLock> {
  const locks = new StoreLocks(options.storeDir);
  const name = `image:${key}`;
  for (;;) {
    const lock = await locks.tryAcquire(name, { runId: "", pid: process.pid, what: `image ${image}` });
    if (lock) return lock;
    const holder = await locks.probe(name, options.signal);
    // No holder by now: it let go in between, and the lock is tried again at once.
    if (holder)
      emit({
        type: "image:waiting",
        image,
        key,
        reason: holder.silent ? holder.what : `another process (pid ${holder.pid}) is building it`,
      });
    await locks.waitFree(name, options.signal);
  }
}

interface BuildContext {
  key: string;
  inputs: ImageKeyInputs;
  devices: DeviceNode[];
  owners: NonNullable<ImageSpec["owners"]>;
  store: ImageStore;
  signal: AbortSignal | undefined;
  emit: Emit;
}

async function build(spec: ImageSpec, context: BuildContext): Promise<BuiltImage> {
  const { key, inputs, devices, owners, store, emit, signal } = context;
  emit({ type: "image:start", image: spec.name, key, kind: spec.kind });
  const started = monotonicMs();
  const scratch = await store.scratch(key);
  try {
    const root = join(scratch, "root");
    const entry = join(scratch, "entry");
    const work = join(scratch, "work");
    // The entry as it will be in the store: its image holds the contents' private files too.
    await mkdir(entry, { mode: 0o700 });
    await mkdir(work);
    const tree = await stageTree({ ...spec, devices, owners }, root, { signal }).catch((error: unknown) => {
      // The staging folder adds its own length to every path of the contents.
      if ((error as NodeJS.ErrnoException).code !== "ENAMETOOLONG") throw error;
      const path = String((error as NodeJS.ErrnoException).path ?? "").replace(`${root}/`, "/");
      throw new RootstockError(
        "ERR_IMAGE_PATH_TOO_LONG",
        `image ${spec.name}: a path of its contents is too long for Linux where the image is staged (${root.length} bytes before it): ${path.length > 160 ? `${path.slice(0, 80)}…${path.slice(-60)} (${path.length} bytes)` : path}`,
        {
          hint: "make the step's deepest paths shorter, or use a store with a shorter path (--store DIR)",
          cause: error,
        },
      );
    });
    const file = imageFileName(spec.kind, spec.compression);
    const output = join(entry, file);
    await writeImage(spec, tree, output, {
      key,
      work,
      storeDir: dirname(store.root),
      ...(signal ? { signal } : {}),
    });
    const digest = await digestFile(output, signal);
    const manifest: ImageManifest = {
      format: IMAGE_FORMAT,
      key,
      kind: spec.kind,
      compression: spec.compression,
      file,
      sha256: digest.sha256,
      bytes: digest.size,
      builtAs: spec.name,
      inputs: { ...inputs },
      entries: tree.entries.length + tree.devices.length,
      contentBytes: tree.contentBytes,
    };
    await writeFile(join(entry, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
    await removeStagedTree(root);
    await store.commit(key, entry);
    const path = join(store.dir(key), file);
    const ms = Math.round(monotonicMs() - started);
    emit({ type: "image:done", image: spec.name, key, path, bytes: digest.size, ms, sha256: digest.sha256 });
    return {
      name: spec.name,
      kind: spec.kind,
      key,
      path,
      sha256: digest.sha256,
      bytes: digest.size,
      cached: false,
    };
  } finally {
    await removeStagedTree(scratch);
  }
}

/**
 * Runs the image's writer. A full disk is the store's (the image is written in it), said with the gc
 * hint as any full store is, not as a tool that failed.
 */
async function writeImage(
  spec: ImageSpec,
  tree: StagedTree,
  output: string,
  { key, work, storeDir, signal }: { key: string; work: string; storeDir: string; signal?: AbortSignal },
): Promise<void> {
  try {
    if (spec.kind === "initramfs") {
      await buildInitramfs(tree, output, {
        name: spec.name,
        compression: spec.compression,
        scratch: work,
        signal,
      });
    } else if (spec.kind === "ext4") {
      await buildExt4(tree, output, {
        name: spec.name,
        key,
        scratch: work,
        signal,
        ...(spec.sizeBytes === undefined ? {} : { sizeBytes: spec.sizeBytes }),
        ...(spec.label === undefined ? {} : { label: spec.label }),
      });
    } else {
      await buildSquashfs(tree, output, {
        name: spec.name,
        compression: spec.compression,
        scratch: work,
        signal,
      });
    }
  } catch (error) {
    if (
      error instanceof RootstockError &&
      error.code === "ERR_IMAGE_TOOL_FAILED" &&
      /No space left on device|Disk quota exceeded/.test(error.message)
    )
      throw new RootstockError(
        "ERR_STORE_UNWRITABLE",
        `cannot write the store ${storeDir}: no space left on the device (${error.message.split("\n")[0]})`,
        {
          hint: FREE_SPACE,
          cause: error,
        },
      );
    throw error;
  }
}

async function keyInputs(
  spec: ImageSpec,
  devices: DeviceNode[],
  owners: NonNullable<ImageSpec["owners"]>,
  signal: AbortSignal | undefined,
): Promise<ImageKeyInputs> {
  const layers: string[] = [];
  for (const layer of spec.layers) layers.push(layer.key ?? (await folderIdentity(layer.dir, signal)));
  let files: string | undefined;
  if (spec.files) {
    files = spec.files.entries
      ? sha256Json({
          files: spec.files.entries.map((entry) => ({
            path: entry.path,
            sha256: entry.sha256,
            executable: entry.executable,
            symlink: entry.symlink,
          })),
          // Copied into the image too, empty ones (/proc, /var/empty) included: keyed as the files are.
          folders: foldersUnder(spec.files.dir),
        })
      : await folderIdentity(spec.files.dir, signal);
  }
  const tools: Record<string, string> = {};
  for (const name of toolsFor(spec)) {
    const identity = await identifyTool(name, hostPath());
    if (!identity) throw imageToolMissing(spec, name);
    tools[name] = identity.sha256;
  }
  return {
    kind: spec.kind,
    compression: spec.compression,
    layers,
    owners,
    devices,
    tools,
    ...(files === undefined ? {} : { files }),
    ...(spec.sizeBytes === undefined ? {} : { sizeBytes: spec.sizeBytes }),
    ...(spec.label === undefined ? {} : { label: spec.label }),
  };
}

/**
 * A folder given without a key, by the store's own manifest: every entry's path, kind, mode and content.
 * Owners are left out (an image sets its own), and so are hard links (an image holds separate files).
 */
/** Every folder under `dir` (not through links), sorted: what a list of files leaves out. */
function foldersUnder(dir: string, prefix = ""): string[] {
  const { readdirSync } = process.getBuiltinModule("node:fs");
  const found: string[] = [];
  let children: import("node:fs").Dirent[] = [];
  try {
    children = readdirSync(join(dir, prefix), { withFileTypes: true });
  } catch {
    return found;
  }
  for (const child of children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)))
    if (child.isDirectory()) {
      const path = prefix === "" ? child.name : `${prefix}/${child.name}`;
      found.push(path, ...foldersUnder(dir, path));
    }
  return found;
}

async function folderIdentity(dir: string, signal: AbortSignal | undefined): Promise<string> {
  const manifest = await computeManifest(dir, signal ? { signal } : {});
  return `tree:${sha256Json(manifest.entries.map(({ uid: _uid, gid: _gid, link: _link, ...entry }) => entry))}`;
}

function imageToolMissing(image: { name: string; kind: string }, tool: string): RootstockError {
  const pkg = packageOf(tool);
  return new RootstockError(
    "ERR_HOST_TOOL_MISSING",
    `building the ${image.kind} image ${image.name} needs ${tool}${pkg ? ` (package ${pkg})` : ""}, which is not on PATH`,
    {
      hint: `run \`rootstock doctor --install\` (as root)${pkg ? ` or \`apt-get install ${pkg}\`` : ""}`,
    },
  );
}

/**
 * The images' tools missing from the host, found before their steps are built (which may take hours)
 * rather than after.
 */
export function missingImageTools(
  images: readonly Pick<ImageSpec, "name" | "kind" | "compression">[],
  searchPath = hostPath(),
): RootstockError[] {
  const { accessSync, constants } = process.getBuiltinModule("node:fs");
  const dirs = searchPath.split(":");
  const found = (tool: string) =>
    dirs.some((dir) => {
      try {
        accessSync(join(dir, tool), constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
  return images.flatMap((image) =>
    toolsFor(image)
      .filter((tool) => !found(tool))
      .map((tool) => imageToolMissing(image, tool)),
  );
}

function toolsFor(spec: Pick<ImageSpec, "kind" | "compression">): string[] {
  if (spec.kind === "ext4") return ["mke2fs", "debugfs"];
  if (spec.kind === "squashfs") return ["mksquashfs"];
  return spec.compression === "none" ? ["cpio"] : ["cpio", INITRAMFS_COMPRESSORS[spec.compression][0]];
}
