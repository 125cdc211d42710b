/**
 * Builds an image's root as a plain folder: each layer copied in order (a later entry replaces an
 * earlier one at the same path; folders merge), then the plan's files. Timestamps are fixed and folder
 * modes applied last, so that the image tools see the same tree every time.
 */
import { RootstockError } from "../errors.ts";
import { compareNames, deviceMajor, deviceMinor, type Manifest } from "../store/manifest.ts";
import { mustBeClosed } from "../store/output-store.ts";
import { ownCopy } from "../store/owner.ts";
import { CONSOLE_DEVICE, type DeviceNode, type ImageSpec, imagePath } from "./image-spec.ts";

const { constants } = process.getBuiltinModule("node:fs");
const { chmod, copyFile, lstat, lutimes, mkdir, readdir, readFile, readlink, rm, symlink } =
  process.getBuiltinModule("node:fs/promises");
const { dirname, join } = process.getBuiltinModule("node:path");

/** Every timestamp in an image (SOURCE_DATE_EPOCH of the steps). */
export const IMAGE_TIME = 0;

export interface StagedEntry {
  /** `.` for the root, else relative without a leading slash. */
  path: string;
  kind: "dir" | "file" | "symlink";
  mode: number;
  size: number;
  /** The staged copy's mode, which the tools copy: a rootless build must be able to read it. */
  diskMode: number;
  /** The owner it gets in the image. */
  uid: number;
  gid: number;
  /** Who owns the staged copy on disk, which mke2fs and mksquashfs copy unless told otherwise. */
  diskUid: number;
  diskGid: number;
}

export interface StagedTree {
  root: string;
  /** Parents before children, names in byte order. */
  entries: StagedEntry[];
  /** Device nodes, which only exist in the image (a rootless build cannot create them). */
  devices: DeviceNode[];
  /** Bytes of regular file content. */
  contentBytes: number;
}

export interface StageOptions {
  signal?: AbortSignal;
}

type StageInput = Pick<ImageSpec, "name" | "declaredIn" | "layers" | "files" | "owners" | "devices">;

interface StageState {
  root: string;
  dirModes: Map<string, number>;
  /** Modes of files whose staged copy has another (opened for a rootless build to read). */
  fileModes: Map<string, number>;
  /** Owners a step gave its output's entries other than the user who ran it (a chroot step's chown). */
  stepOwners: Map<string, { uid: number; gid: number }>;
  devices: Map<string, DeviceNode>;
  signal: AbortSignal | undefined;
}

export async function stageTree(
  input: StageInput,
  root: string,
  options: StageOptions = {},
): Promise<StagedTree> {
  await mkdir(root, { recursive: true, mode: 0o755 });
  const state: StageState = {
    root,
    dirModes: new Map([[".", 0o755]]),
    fileModes: new Map(),
    stepOwners: new Map(),
    devices: new Map(),
    signal: options.signal,
  };
  for (const layer of input.layers) {
    const modes = layer.manifest === undefined ? undefined : await manifestModes(layer.manifest);
    await copyTree(state, layer.dir, {
      plan: false,
      what: layer.label ?? layer.dir,
      image: input.name,
      ...(modes ? { modes } : {}),
      ownersChosen: layer.ownersChosen ?? false,
    });
  }
  if (input.files) {
    await copyTree(state, input.files.dir, { plan: true, what: input.files.dir, image: input.name });
  }
  for (const device of input.devices ?? []) {
    const path = imagePath(device.path);
    // The plan's devices field, for a device the plan listed; the initramfs's own console is no field's.
    const where =
      device === CONSOLE_DEVICE
        ? {}
        : {
            ...(input.declaredIn === undefined ? {} : { file: input.declaredIn }),
            field: `images.${input.name}.devices`,
          };
    // A folder is made where the path has none; a file or link in its way is the contents', not ours to drop.
    const parts = path.split("/");
    for (let index = 1; index < parts.length; index++) {
      const parent = parts.slice(0, index).join("/");
      const info = await lstat(join(root, parent)).catch(() => undefined);
      if (info === undefined || info.isDirectory()) continue;
      const what = info.isSymbolicLink() ? "a link" : "a file";
      if (device === CONSOLE_DEVICE)
        throw new RootstockError(
          "ERR_IMAGE_DEVICE_PATH",
          `image ${input.name}: an initramfs carries its own /dev/console (character 5:1, which the kernel opens before init), and the image's contents make /${parent} ${what}, not a folder`,
          { hint: `make /${parent} a folder in the step output or the plan's files folder` },
        );
      throw new RootstockError(
        "ERR_IMAGE_DEVICE_PATH",
        `image ${input.name}: devices names /${path}, but /${parent} in the image's contents is ${what}, not a folder`,
        {
          ...where,
          hint: info.isSymbolicLink()
            ? "a device's path is not followed through links: name it by the folder the link leads to"
            : "declare the device at a path of its own (usually under /dev)",
        },
      );
    }
    await makeParents(state, path);
    // A declared device may stand in for one a step made; a file or folder there is a mistake.
    const there = await lstat(join(root, path)).catch(() => undefined);
    if (there?.isFile() || there?.isDirectory() || there?.isSymbolicLink()) {
      const what = there.isDirectory() ? "a folder" : there.isSymbolicLink() ? "a link" : "a file";
      // The initramfs's own node, not one the plan listed: said as such.
      if (device === CONSOLE_DEVICE)
        throw new RootstockError(
          "ERR_IMAGE_DEVICE_PATH",
          `image ${input.name}: an initramfs carries its own /dev/console (character 5:1, which the kernel opens before init), and the image's contents hold ${what} there`,
          {
            hint: "leave dev/console out of the step outputs and the plan's files folder; to set its mode or owner, list it under devices",
          },
        );
      throw new RootstockError(
        "ERR_IMAGE_DEVICE_PATH",
        `image ${input.name}: devices names /${path}, where the image's contents already hold ${what}`,
        {
          ...where,
          hint: "declare the device at a path of its own (usually under /dev), or leave that entry out of the step's output or the plan's files folder",
        },
      );
    }
    await removeEntry(state, path);
    state.devices.set(path, { ...device, path });
  }

  const owners = new Map((input.owners ?? []).map((owner) => [imagePath(owner.path), owner]));
  const entries: StagedEntry[] = [];
  let contentBytes = 0;
  const finish = async (path: string): Promise<void> => {
    state.signal?.throwIfAborted();
    const absolute = path === "." ? root : join(root, path);
    const info = await lstat(absolute);
    const owner = owners.get(path) ?? state.stepOwners.get(path) ?? { uid: 0, gid: 0 };
    const kind = info.isDirectory() ? "dir" : info.isSymbolicLink() ? "symlink" : "file";
    const mode =
      kind === "dir"
        ? (state.dirModes.get(path) ?? 0o755)
        : (state.fileModes.get(path) ?? info.mode & 0o7777);
    const diskMode = kind === "dir" ? readable(mode, kind) : info.mode & 0o7777;
    entries.push({
      path,
      kind,
      mode,
      diskMode,
      size: kind === "file" ? info.size : 0,
      uid: owner.uid,
      gid: owner.gid,
      diskUid: info.uid,
      diskGid: info.gid,
    });
    if (kind === "file") contentBytes += info.size;
    if (kind === "dir") {
      const names = (await readdir(absolute)).sort(compareNames);
      for (const name of names) await finish(path === "." ? name : `${path}/${name}`);
      await chmod(absolute, diskMode);
    }
    await lutimes(absolute, IMAGE_TIME, IMAGE_TIME);
  };
  await finish(".");

  const known = new Set([...entries.map((entry) => entry.path), ...state.devices.keys()]);
  for (const path of owners.keys()) {
    if (!known.has(path)) {
      throw new RootstockError(
        "ERR_IMAGE_OWNER_PATH",
        `image ${input.name}: owners names /${path}, which the image does not contain`,
        {
          ...(input.declaredIn === undefined ? {} : { file: input.declaredIn }),
          field: `images.${input.name}.owners`,
          hint: "owners applies to paths that a step output or the plan's files create; check the path",
        },
      );
    }
  }
  const devices = [...state.devices.values()]
    .map((device) => {
      const owner = owners.get(device.path) ?? state.stepOwners.get(device.path);
      return owner ? { ...device, uid: owner.uid, gid: owner.gid } : device;
    })
    .sort((a, b) => compareNames(a.path, b.path));
  return { root, entries, devices, contentBytes };
}

/** Removes a staged tree, whose folders may have been made read-only. */
export async function removeStagedTree(root: string): Promise<void> {
  const unlock = async (dir: string): Promise<void> => {
    await chmod(dir, 0o755).catch(() => {});
    const children = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const child of children) if (child.isDirectory()) await unlock(join(dir, child.name));
  };
  await unlock(root);
  await rm(root, { recursive: true, force: true });
}

async function copyTree(
  state: StageState,
  source: string,
  how: {
    plan: boolean;
    what: string;
    image: string;
    modes?: ReadonlyMap<string, number>;
    ownersChosen?: boolean;
  },
): Promise<void> {
  const modeOf = (path: string, info: { mode: number }) => how.modes?.get(path) ?? info.mode & 0o7777;
  const walk = async (relative: string): Promise<void> => {
    state.signal?.throwIfAborted();
    const names = (await readdir(relative === "" ? source : join(source, relative))).sort(compareNames);
    for (const name of names) {
      const path = relative === "" ? name : `${relative}/${name}`;
      if (name.includes("\n") || name.includes("\uFFFD")) {
        throw new RootstockError(
          "ERR_IMAGE_BAD_NAME",
          `image ${how.image}: ${how.what} holds the file name ${JSON.stringify(path)}, which is not valid UTF-8 text on one line`,
          {
            hint: "rename the file where it comes from: the step that makes it, or the plan's files folder",
          },
        );
      }
      const from = join(source, path);
      const to = join(state.root, path);
      const info = await lstat(from);
      const existing = await lstat(to).catch(() => undefined);
      const stepOwner = how.plan ? undefined : ownerInImage(info);
      if (info.isDirectory()) {
        if (existing && !existing.isDirectory()) await removeEntry(state, path);
        if (!existing?.isDirectory()) {
          await mkdir(to, { mode: 0o755 });
          state.dirModes.set(path, how.plan ? 0o755 : modeOf(path, info));
          if (stepOwner) state.stepOwners.set(path, stepOwner);
        } else if (!how.plan) {
          state.dirModes.set(path, modeOf(path, info));
          // A folder that merely is there again (a rootless step's) keeps the owner an earlier step gave
          // it; another owner given the same way replaces it, and so does any a chroot step gives, root too.
          if (stepOwner) state.stepOwners.set(path, stepOwner);
          else if (how.ownersChosen) state.stepOwners.delete(path);
        }
        // Staged folders stay writable until the end, whatever the layer's mode: later layers add to them.
        await chmod(to, 0o755);
        await walk(path);
        continue;
      }
      await removeEntry(state, path);
      if (stepOwner) state.stepOwners.set(path, stepOwner);
      if (info.isFile()) {
        await copyFile(from, to, constants.COPYFILE_FICLONE);
        ownCopy(to);
        const mode = how.plan ? (info.mode & 0o111 ? 0o755 : 0o644) : modeOf(path, info);
        await chmod(to, readable(mode, "file"));
        if (readable(mode, "file") !== mode) state.fileModes.set(path, mode);
      } else if (info.isSymbolicLink()) {
        await symlink(await readlink(from), to);
      } else if (info.isCharacterDevice() || info.isBlockDevice()) {
        state.devices.set(path, {
          path,
          type: info.isCharacterDevice() ? "char" : "block",
          major: deviceMajor(info.rdev),
          minor: deviceMinor(info.rdev),
          mode: modeOf(path, info),
          uid: 0,
          gid: 0,
        });
      } else {
        const fifo = info.isFIFO();
        throw new RootstockError(
          "ERR_IMAGE_UNSUPPORTED_FILE",
          `image ${how.image}: ${how.what} holds /${path}, a ${fifo ? "FIFO" : "socket"}, which images do not carry`,
          {
            hint: fifo
              ? "remove it in the step that makes it; create it at boot instead (mkfifo in an init script)"
              : "remove it in the step that makes it: a socket is made by the program that listens on it, when that program starts at boot",
          },
        );
      }
    }
  };
  await walk("");
}

/** Deletes whatever the stage holds at `path` (a later layer replaces it). */
async function removeEntry(state: StageState, path: string): Promise<void> {
  await rm(join(state.root, path), { recursive: true, force: true });
  for (const key of [...state.dirModes.keys()])
    if (key === path || key.startsWith(`${path}/`)) state.dirModes.delete(key);
  for (const key of [...state.fileModes.keys()])
    if (key === path || key.startsWith(`${path}/`)) state.fileModes.delete(key);
  for (const key of [...state.devices.keys()])
    if (key === path || key.startsWith(`${path}/`)) state.devices.delete(key);
  for (const key of [...state.stepOwners.keys()])
    if (key === path || key.startsWith(`${path}/`)) state.stepOwners.delete(key);
}

/**
 * What a step made as the user who ran rootstock is root's in the image; an owner only root could have
 * given (a chroot step's chown) is kept, so that a setuid program made for a user stays that user's.
 */
function ownerInImage(info: { uid: number; gid: number }): { uid: number; gid: number } | undefined {
  const uid = info.uid === process.getuid?.() ? 0 : info.uid;
  const gid = info.gid === process.getgid?.() ? 0 : info.gid;
  return uid === 0 && gid === 0 ? undefined : { uid, gid };
}

/**
 * The mode a staged copy gets: the image's, opened for its owner when the tools run as a user other
 * than root, who could not read it otherwise; the writers give the image its own mode.
 */
function readable(mode: number, kind: "dir" | "file"): number {
  if (process.getuid?.() === 0) return mode;
  return mode | (kind === "dir" ? 0o500 : 0o400);
}

/** The modes a store manifest records, by path. */
async function manifestModes(file: string): Promise<Map<string, number>> {
  const manifest = JSON.parse(await readFile(file, "utf8")) as Manifest;
  // An entry an older rootstock committed open to others that must not be (a /tmp of 1777): closed
  // now, before anything more is taken from it. Another user's entry is left as it is.
  if (mustBeClosed(manifest)) {
    const entry = dirname(file);
    const info = await lstat(entry).catch(() => undefined);
    if (info && (info.mode & 0o077) !== 0 && info.uid === process.getuid?.())
      await chmod(entry, 0o700).catch(() => {});
  }
  return new Map(manifest.entries.map((entry) => [entry.path, entry.mode]));
}

async function makeParents(state: StageState, path: string): Promise<void> {
  const parts = path.split("/").slice(0, -1);
  for (let index = 1; index <= parts.length; index++) {
    const parent = parts.slice(0, index).join("/");
    const info = await lstat(join(state.root, parent)).catch(() => undefined);
    if (info?.isDirectory()) continue;
    if (info) await removeEntry(state, parent);
    await mkdir(join(state.root, parent), { mode: 0o755 });
    state.dirModes.set(parent, 0o755);
  }
}
