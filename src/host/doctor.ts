/** What rootstock needs from the host, whether it is there, and how to get what is missing. */
import { RootstockError } from "../errors.ts";
import { findOnPath, hostPath, STEP_PATH } from "./tools.ts";

const { spawn } = process.getBuiltinModule("node:child_process");
const { access } = process.getBuiltinModule("node:fs/promises");
const { readlinkSync, realpathSync } = process.getBuiltinModule("node:fs");
const { dirname, resolve } = process.getBuiltinModule("node:path");

export type RequirementGroup = "core" | "tests" | "plan";

export interface Requirement {
  /** A command on PATH, an absolute file (any of several), or else the package itself installed. */
  command?: string;
  files?: string[];
  /** Debian/Ubuntu package that provides it; none when no package is known to. */
  package?: string;
  /** The package is only the command's own name, to be checked against apt's index before it is used. */
  guessed?: boolean;
  /** A package the plan's [host] packages names, by that name. */
  declared?: string;
  purpose: string;
  group: RequirementGroup;
}

export const CORE_REQUIREMENTS: readonly Requirement[] = [
  { command: "bwrap", package: "bubblewrap", purpose: "sandboxes build steps", group: "core" },
  { command: "unshare", package: "util-linux", purpose: "chroot sandboxes", group: "core" },
  { command: "ip", package: "iproute2", purpose: "the loopback of chroot sandboxes", group: "core" },
  { command: "qemu-system-x86_64", package: "qemu-system-x86", purpose: "boots images", group: "core" },
  {
    command: "qemu-img",
    package: "qemu-utils",
    purpose: "copy-on-write overlays for VM disks",
    group: "core",
  },
  { command: "setpriv", package: "util-linux", purpose: "ties QEMU's life to rootstock's", group: "core" },
  {
    files: [
      "/usr/share/qemu/pxe-virtio.rom",
      "/usr/lib/ipxe/qemu/pxe-virtio.rom",
      "/usr/lib/ipxe/qemu/efi-virtio.rom",
    ],
    package: "ipxe-qemu",
    purpose: "netboots QEMU through iPXE",
    group: "core",
  },
  { command: "mke2fs", package: "e2fsprogs", purpose: "builds ext4 images", group: "core" },
  {
    command: "debugfs",
    package: "e2fsprogs",
    purpose: "sets owners and device nodes in ext4 images",
    group: "core",
  },
  { command: "mksquashfs", package: "squashfs-tools", purpose: "builds squashfs images", group: "core" },
  { command: "cpio", package: "cpio", purpose: "builds initramfs images", group: "core" },
  { command: "tar", package: "tar", purpose: "unpacks sources", group: "core" },
  { command: "gzip", package: "gzip", purpose: "gzip archives and images", group: "core" },
  { command: "bzip2", package: "bzip2", purpose: "bzip2 archives", group: "core" },
  { command: "xz", package: "xz-utils", purpose: "xz archives and images", group: "core" },
  { command: "zstd", package: "zstd", purpose: "zstd archives and images", group: "core" },
  { command: "patch", package: "patch", purpose: "applies a step's patches", group: "core" },
  { command: "apt-get", package: "apt", purpose: "fetches Debian source packages", group: "core" },
];

export const TEST_REQUIREMENTS: readonly Requirement[] = [
  { command: "gcc", package: "gcc", purpose: "test plans compile C programs", group: "tests" },
  { command: "make", package: "make", purpose: "test plans run make", group: "tests" },
  {
    files: ["/bin/busybox", "/usr/bin/busybox"],
    package: "busybox-static",
    purpose: "guest shell in VM tests",
    group: "tests",
  },
  { command: "chromium", package: "chromium", purpose: "renders report.html in tests", group: "tests" },
  { command: "hyperfine", package: "hyperfine", purpose: "benchmarks in bench/", group: "tests" },
  { command: "dpkg-deb", package: "dpkg", purpose: "unpacks the fixture kernel package", group: "tests" },
  { command: "dnsmasq", package: "dnsmasq-base", purpose: "checks netboot dnsmasq configs", group: "tests" },
];

/** Debian packages for commands plans commonly declare under [host] tools. */
const PLAN_TOOL_PACKAGES: Record<string, string> = {
  sh: "dash",
  bash: "bash",
  gcc: "gcc",
  cc: "gcc",
  "g++": "g++",
  make: "make",
  flex: "flex",
  bison: "bison",
  bc: "bc",
  perl: "perl",
  python3: "python3",
  rsync: "rsync",
  awk: "mawk",
  gawk: "gawk",
  m4: "m4",
  patch: "patch",
  ld: "binutils",
  as: "binutils",
  ar: "binutils",
  nm: "binutils",
  objcopy: "binutils",
  objdump: "binutils",
  ranlib: "binutils",
  readelf: "binutils",
  strip: "binutils",
  strings: "binutils",
  makeinfo: "texinfo",
  texi2any: "texinfo",
  msgfmt: "gettext",
  xgettext: "gettext",
  autoconf: "autoconf",
  autoreconf: "autoconf",
  automake: "automake",
  aclocal: "automake",
  libtoolize: "libtool",
  mkimage: "u-boot-tools",
  mksquashfs: "squashfs-tools",
  mke2fs: "e2fsprogs",
  unzip: "unzip",
  zstd: "zstd",
  lzip: "lzip",
  python: "python-is-python3",
  tar: "tar",
  xz: "xz-utils",
  gzip: "gzip",
  bzip2: "bzip2",
  cpio: "cpio",
  install: "coreutils",
  sed: "sed",
  grep: "grep",
  find: "findutils",
  diff: "diffutils",
  file: "file",
  depmod: "kmod",
  openssl: "openssl",
  pkg_config: "pkg-config",
  "pkg-config": "pkg-config",
};

export function planRequirements(tools: readonly string[], packages: readonly string[] = []): Requirement[] {
  return [
    ...[...new Set(tools)].map((tool) => ({
      command: tool,
      package: PLAN_TOOL_PACKAGES[tool] ?? tool,
      ...(tool in PLAN_TOOL_PACKAGES ? {} : { guessed: true }),
      purpose: "a host tool the plan's steps run",
      group: "plan" as const,
    })),
    // Checked against apt's index too: one unknown name would fail the whole apt-get install.
    ...packages.map((name) => ({
      package: name,
      declared: name,
      guessed: true,
      purpose: "a host package the plan declares",
      group: "plan" as const,
    })),
  ];
}

/** `dpkg-query` knows whether a package is installed; "version (dpkg)" when it is. */
export async function installedPackageVersion(name: string): Promise<string | undefined> {
  const result = await queryOutput("dpkg-query", ["-W", "-f", "${Status}\t${Version}", name]);
  const [status, version] = result?.output.split("\t") ?? [];
  return result?.code === 0 && status === "install ok installed" ? `${name} ${version} (dpkg)` : undefined;
}

/**
 * A query's standard output and status; undefined when it cannot be run (no such program). A limit of
 * this process met (no file descriptor or process left) is thrown: "not installed" would be untrue.
 */
function queryOutput(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; output: string } | undefined> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: { ...process.env, PATH: hostPath(), ...env },
      stdio: ["ignore", "pipe", "ignore"],
    });
    let output = "";
    // No pipe at all when the spawn itself failed: its error comes as an event.
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EMFILE" || error.code === "ENFILE" || error.code === "EAGAIN") reject(error);
      else resolve(undefined);
    });
    child.on("close", (code) => resolve({ code, output }));
  });
}

export interface Finding {
  requirement: Requirement;
  /** Where it was found; undefined when missing. */
  found?: string;
}

/**
 * The Debian packages of what was found, as dpkg knows its files, and of what is missing, as rootstock
 * knows them: the list `apt-get download` takes to carry this host's tools to an air-gapped one.
 * Something no package provides (a tool built by hand) is left out.
 */
export async function providingPackages(
  findings: readonly Finding[],
): Promise<{ packages: string[]; unprovided: Finding[] }> {
  const unprovided: Finding[] = [];
  const packages = new Set<string>();
  const files = new Map<Finding, string[]>();
  for (const finding of findings) {
    const { requirement, found } = finding;
    if (found === undefined || (!requirement.command && !requirement.files)) {
      if (requirement.package !== undefined) packages.add(requirement.package);
      else unprovided.push(finding);
      continue;
    }
    // dpkg knows a file by the path its package gave it: on a merged-/usr host /bin/sh, not /usr/bin/sh.
    // Every hop of a link counts: cc leads through /etc/alternatives to gcc (package gcc) and on to
    // x86_64-linux-gnu-gcc-12 (gcc-12), and each package is needed for cc to be there.
    files.set(finding, [
      ...new Set(linkHops(found).flatMap((path) => [path, path.replace(/^\/usr\/(bin|sbin|lib)\//, "/$1/")])),
    ]);
  }
  const owners = await dpkgOwners([...new Set([...files.values()].flat())]);
  for (const [finding, paths] of files) {
    const found = paths.flatMap((path) => owners.get(path) ?? []);
    for (const owner of found) packages.add(owner);
    if (found.length > 0) continue;
    // A tool installed by hand (/usr/local/bin) no package gives: the list cannot carry it. The package
    // known for its name is listed all the same, but gives another file (and so other keys).
    if (finding.requirement.package !== undefined && !finding.requirement.guessed)
      packages.add(finding.requirement.package);
    unprovided.push(finding);
  }
  return { packages: [...packages].sort(), unprovided };
}

/** A path and each path its links lead to, in order, up to the file itself. */
function linkHops(path: string): string[] {
  const hops = [path];
  for (let current = path; hops.length < 40; ) {
    let target: string;
    try {
      target = readlinkSync(current);
    } catch {
      break;
    }
    current = resolve(dirname(current), target);
    hops.push(current);
  }
  try {
    hops.push(realpathSync(path));
  } catch {
    // A link that leads nowhere: its hops are what there is.
  }
  return hops;
}

/** `dpkg-query -S`: each path's package (without an :arch), for the paths dpkg has. */
async function dpkgOwners(paths: readonly string[]): Promise<Map<string, string>> {
  const owners = new Map<string, string>();
  if (paths.length === 0) return owners;
  const result = await queryOutput("dpkg-query", ["-S", ...paths], { LC_ALL: "C" });
  for (const line of result?.output.split("\n") ?? []) {
    const split = line.lastIndexOf(": ");
    if (split < 0) continue;
    // "pkg: path", "pkg1, pkg2: path" (a folder two share), or "diversion by …" lines.
    const names = line.slice(0, split);
    if (names.includes(" ") && !names.includes(", ")) continue;
    owners.set(line.slice(split + 2), (names.split(", ")[0] as string).replace(/:.*/, ""));
  }
  return owners;
}

export async function checkHost(requirements: readonly Requirement[]): Promise<Finding[]> {
  return Promise.all(
    requirements.map(async (requirement) => {
      let found: string | undefined;
      // A plan's tool is what its steps run: found on their PATH, not on the one rootstock was given.
      if (requirement.command)
        found = await findOnPath(requirement.command, requirement.group === "plan" ? STEP_PATH : hostPath());
      for (const file of requirement.files ?? []) {
        if (found) break;
        found = await access(file).then(
          () => file,
          () => undefined,
        );
      }
      if (!requirement.command && !requirement.files && requirement.package)
        found = await installedPackageVersion(requirement.package);
      return found === undefined ? { requirement } : { requirement, found };
    }),
  );
}

/** The Debian package a host command comes from, when rootstock knows it. */
export function packageOf(command: string): string | undefined {
  return (
    CORE_REQUIREMENTS.find((requirement) => requirement.command === command)?.package ??
    PLAN_TOOL_PACKAGES[command]
  );
}

export { hostPath } from "./tools.ts";

export function missingPackages(findings: readonly Finding[]): string[] {
  return [
    ...new Set(
      findings.flatMap((finding) =>
        finding.found || finding.requirement.package === undefined ? [] : [finding.requirement.package],
      ),
    ),
  ].sort();
}

/**
 * A guessed package (a command's own name) is kept only when apt's index has a package of that name:
 * `makeinfo` is in texinfo, and asking apt-get for a package that does not exist fails the whole install.
 * Without apt, a guess stays a guess.
 */
export async function checkGuessedPackages(requirements: Requirement[]): Promise<void> {
  const guessed = requirements.filter((requirement) => requirement.guessed && requirement.package);
  if (guessed.length === 0 || !(await findOnPath("apt-cache", hostPath()))) return;
  await Promise.all(
    guessed.map(async (requirement) => {
      if (!(await aptKnows(requirement.package as string))) delete requirement.package;
    }),
  );
}

/**
 * The Debian package `doctor --install` would install for a command: the one rootstock knows, else one
 * of the command's own name when apt has it; undefined when neither.
 */
export async function installablePackage(command: string): Promise<string | undefined> {
  const known = packageOf(command);
  if (known !== undefined) return known;
  return (await aptKnows(command, false)) ? command : undefined;
}

async function aptKnows(name: string, withoutApt = true): Promise<boolean> {
  const result = await queryOutput("apt-cache", ["show", "--no-all-versions", name]);
  // Without apt-cache nothing can be checked: doctor lets apt-get say; a hint says no package.
  if (result === undefined) return withoutApt;
  return result.code === 0 && /^Package: /m.test(result.output);
}

export function installCommand(packages: readonly string[], asRoot: boolean): string {
  const prefix = asRoot ? "" : "sudo ";
  return `${prefix}apt-get update && ${prefix}apt-get install -y --no-install-recommends ${packages.join(" ")}`;
}

export function canInstall(): boolean {
  return process.getuid?.() === 0 && process.platform === "linux";
}

/** Installs Debian packages with apt-get; only as root. Output goes to `onOutput`, not the terminal. */
export async function installPackages(
  packages: readonly string[],
  onOutput: (line: string) => void = () => {},
): Promise<void> {
  if (!canInstall()) {
    throw new RootstockError("ERR_HOST_NOT_ROOT", "installing host packages needs root", {
      hint: `run: ${installCommand(packages, false)}`,
    });
  }
  const env = { ...process.env, PATH: hostPath(), DEBIAN_FRONTEND: "noninteractive" };
  await runApt(["update"], env, onOutput);
  await runApt(["install", "-y", "--no-install-recommends", ...packages], env, onOutput);
}

/** `apt-get update`, as root: after enabling deb-src, so that apt knows the source packages. */
export async function updatePackageIndex(onOutput: (line: string) => void = () => {}): Promise<void> {
  await runApt(["update"], { ...process.env, PATH: hostPath(), DEBIAN_FRONTEND: "noninteractive" }, onOutput);
}

function runApt(args: string[], env: NodeJS.ProcessEnv, onOutput: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("apt-get", args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let tail = "";
    const collect = (chunk: Buffer) => {
      const text = chunk.toString();
      tail = (tail + text).slice(-4000);
      for (const line of text.split("\n")) if (line.trim()) onOutput(line);
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    child.on("error", (error) =>
      reject(
        new RootstockError("ERR_HOST_INSTALL_FAILED", `cannot run apt-get: ${error.message}`, {
          hint: "is this a Debian or Ubuntu machine?",
        }),
      ),
    );
    child.on("close", (code) => {
      if (code === 0) resolve();
      else {
        reject(
          new RootstockError(
            "ERR_HOST_INSTALL_FAILED",
            `apt-get ${args[0]} failed with exit status ${code}`,
            {
              hint: `the last lines it printed:\n${tail.split("\n").slice(-8).join("\n")}`,
            },
          ),
        );
      }
    });
  });
}
