/**
 * The RAM root: the tree of the small initramfs that netboots a system. It holds the plan's busybox
 * and nothing else of it — a link per applet, /init (src/netboot/ramroot/init.sh) and the udhcpc
 * script — so it stays small however large the system is. Busybox must be static, for the plan's
 * machine, and have every applet the scripts use; each is checked here, before anything boots.
 */
import { sha256Text } from "../digest.ts";
import { describeCause, RootstockError } from "../errors.ts";
import { ELF_MACHINES, readElfInfo } from "./elf-info.ts";

const { execFile } = process.getBuiltinModule("node:child_process");
const { chmod, copyFile, mkdir, readFile, symlink, writeFile } = process.getBuiltinModule("node:fs/promises");
const { arch: hostArch } = process.getBuiltinModule("node:os");
const { join } = process.getBuiltinModule("node:path");
const { promisify } = process.getBuiltinModule("node:util");

const run = promisify(execFile);

/** Applets init.sh and udhcpc.sh run. cttyhack and setsid are used when present. */
export const REQUIRED_APPLETS = [
  "sh",
  "cat",
  "grep",
  "ip",
  "ls",
  "mkdir",
  "mount",
  "mv",
  "sha256sum",
  "sleep",
  "switch_root",
  "udhcpc",
  "umount",
  "wc",
  "wget",
] as const;

export interface RamRootOptions {
  /** How messages name the busybox binary (`busybox:bin/busybox`). */
  label: string;
  /** The plan's architecture (x86_64, …). */
  arch: string;
}

export interface RamRoot {
  dir: string;
  busybox: { sha256: string; size: number };
  /** The applets linked into /bin; all of them when the host could ask busybox, else the required ones. */
  applets: string[];
  /** False when busybox is for another machine than the host, so its applets could not be listed. */
  appletsChecked: boolean;
}

const SCRIPTS = new URL("./ramroot/", import.meta.url);

/** The init and udhcpc scripts as they go into the RAM root (part of a bundle's identity). */
export async function ramRootScripts(): Promise<{ init: string; udhcpc: string }> {
  return {
    init: await readFile(new URL("init.sh", SCRIPTS), "utf8"),
    udhcpc: await readFile(new URL("udhcpc.sh", SCRIPTS), "utf8"),
  };
}

/** Writes the RAM root's tree into `dir` (which must not exist yet). */
export async function stageRamRoot(busybox: string, dir: string, options: RamRootOptions): Promise<RamRoot> {
  const data = await readFile(busybox).catch((error: unknown) => {
    throw new RootstockError(
      "ERR_NETBOOT_BUSYBOX_MISSING",
      `${options.label} does not exist: ${describeCause(error)}`,
      {
        hint: "check [images.NAME.netboot] busybox: the step and the path of busybox in its output",
      },
    );
  });
  const elf = readElfInfo(data);
  if (!elf) {
    throw new RootstockError("ERR_NETBOOT_BUSYBOX_NOT_ELF", `${options.label} is not an ELF program`, {
      hint: "busybox.path must name the busybox binary itself, such as bin/busybox",
    });
  }
  if (elf.interpreter !== undefined) {
    throw new RootstockError(
      "ERR_NETBOOT_BUSYBOX_DYNAMIC",
      `${options.label} is dynamically linked (it needs ${elf.interpreter}), and the RAM root holds busybox alone`,
      { hint: "build busybox static: CONFIG_STATIC=y in its .config" },
    );
  }
  const expected = ELF_MACHINES[options.arch];
  if (expected !== undefined && elf.machine !== expected) {
    throw new RootstockError(
      "ERR_NETBOOT_BUSYBOX_ARCH",
      `${options.label} is for ELF machine ${elf.machine}, and the plan is for ${options.arch} (machine ${expected})`,
      { hint: "point busybox at the build for the plan's architecture" },
    );
  }

  await mkdir(dir);
  for (const folder of ["bin", "dev", "proc", "sys", "etc", "newroot"]) await mkdir(join(dir, folder));
  const binary = join(dir, "bin", "busybox");
  await copyFile(busybox, binary);
  await chmod(binary, 0o755);
  const listed = await listApplets(binary, options);
  const applets = listed ?? [...REQUIRED_APPLETS];
  if (listed) {
    const missing = REQUIRED_APPLETS.filter((applet) => !listed.includes(applet));
    if (missing.length > 0) {
      throw new RootstockError(
        "ERR_NETBOOT_BUSYBOX_APPLETS",
        `${options.label} lacks applets the RAM root runs: ${missing.join(", ")}`,
        { hint: `enable them in busybox's .config (the RAM root needs ${REQUIRED_APPLETS.join(", ")})` },
      );
    }
  }
  for (const applet of applets) {
    if (applet !== "busybox") await symlink("busybox", join(dir, "bin", applet));
  }
  const scripts = await ramRootScripts();
  await writeFile(join(dir, "init"), scripts.init, { mode: 0o755 });
  await writeFile(join(dir, "etc", "udhcpc.script"), scripts.udhcpc, { mode: 0o755 });
  return {
    dir,
    busybox: { sha256: sha256Text(data), size: data.length },
    applets,
    appletsChecked: listed !== undefined,
  };
}

const HOST_MACHINES: Record<string, string> = {
  x64: "x86_64",
  arm64: "aarch64",
  riscv64: "riscv64",
  ia32: "i686",
};

/** Whether this machine runs programs of `arch` (i686 on x86_64 most often, not always: "maybe"). */
export function hostRunsArch(arch: string): boolean | "maybe" {
  const host = HOST_MACHINES[hostArch()];
  return host === arch ? true : host === "x86_64" && arch === "i686" ? "maybe" : false;
}

/** Asks busybox for its applets, when it can run on this machine. */
async function listApplets(binary: string, options: RamRootOptions): Promise<string[] | undefined> {
  const host = HOST_MACHINES[hostArch()];
  // An x86_64 kernel most often runs i686 programs too; one built without that says ENOEXEC.
  const maybe = host === "x86_64" && options.arch === "i686";
  if (host !== options.arch && !maybe) return undefined;
  try {
    const { stdout } = await run(binary, ["--list"], { timeout: 10_000, env: { PATH: "/nonexistent" } });
    return stdout.split("\n").filter((line) => /^[A-Za-z0-9_.[-]+$/.test(line));
  } catch (error) {
    if (maybe && (error as NodeJS.ErrnoException).code === "ENOEXEC") return undefined;
    throw new RootstockError(
      "ERR_NETBOOT_BUSYBOX_BROKEN",
      `${options.label} did not list its applets (busybox --list): ${describeCause(error)}`,
      { hint: "the RAM root links its applets from this list; check that this is a working busybox" },
    );
  }
}
