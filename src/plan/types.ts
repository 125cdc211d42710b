/** A loaded plan: pure data, every file it names read and hashed. */
import type { Predicate, Value } from "./predicate.ts";
import type { compressions, imageKinds, rootKinds, sandboxKinds } from "./schema.ts";

export type SandboxKind = (typeof sandboxKinds)[number];
export type RootKind = (typeof rootKinds)[number];
export type ImageKind = (typeof imageKinds)[number];
export type Compression = (typeof compressions)[number];

/** A file of the plan, addressed relative to the plan folder. */
export interface PlanFileEntry {
  /** Relative to the folder that holds it (the step folder, or the plan folder). */
  path: string;
  sha256: string;
  size: number;
  executable: boolean;
  /** Set for a symbolic link (its target, which must stay inside the plan). */
  symlink?: string;
}

export interface DebianProvider {
  package: string;
  version: string;
  file: string;
}

export interface Source {
  /** Name in the build folder. */
  file: string;
  sha256: string;
  size?: number;
  url?: string;
  mirrors: string[];
  extract: boolean;
  /** Folder under the build directory it is unpacked into (archives only). */
  into?: string;
  debian?: DebianProvider;
}

export interface Mount {
  step: string;
  at: string;
}

export interface Step {
  name: string;
  stage: string;
  /** Folder of the step relative to the plan folder: `steps/NAME`. */
  dir: string;
  version?: string;
  description?: string;
  deps: string[];
  sandbox: SandboxKind;
  root: RootKind;
  jobs?: number;
  retries: number;
  timeoutMs?: number;
  /** `line` is where step.toml says it, for messages. */
  when?: { source: string; predicate: Predicate; line?: number };
  /** Host commands the step relies on (plan-wide ones included), recorded as binary seeds. */
  tools: string[];
  /** Environment as written, `${VAR}` not yet replaced. */
  env: Record<string, string>;
  sources: Source[];
  mounts: Mount[];
  /** The build script, absent when the step relies on the default phases alone. */
  script?: PlanFileEntry;
  patches: PlanFileEntry[];
  files: PlanFileEntry[];
}

export interface KernelRef {
  step: string;
  path: string;
  cmdline?: string;
}

export interface Boot {
  kernel?: KernelRef;
  cmdline?: string;
  initrd?: string;
  disks: string[];
  memoryBytes?: number;
  timeoutMs?: number;
  prompt?: string;
  fatal: string[];
  /** Test modules, relative to the plan folder (`tests/boot.test.ts`). */
  tests: string[];
}

/** A device node in an image, at a path without the leading slash. */
export interface ImageDevice {
  path: string;
  type: "char" | "block";
  major: number;
  minor: number;
  mode: number;
  uid: number;
  gid: number;
}

export interface ImageOwner {
  /** Without the leading slash. */
  path: string;
  uid: number;
  gid: number;
}

/** A squashfs image booted into RAM over the network: `[images.NAME.netboot]`. */
export interface Netboot {
  /** The step output and the path in it of a static busybox (default path `bin/busybox`). */
  busybox: { step: string; path: string };
  /** The system's init (default `/sbin/init`). */
  init: string;
  kernel?: KernelRef;
  /** Appended to the kernel's cmdline. */
  cmdline?: string;
  /** Embed the squashfs in the initramfs when it is at most this many bytes (default: never). */
  embedMaxBytes?: number;
  memoryBytes?: number;
  timeoutMs?: number;
  prompt?: string;
  fatal: string[];
  /** Test modules run against the netbooted system. */
  tests: string[];
}

export interface Image {
  name: string;
  kind: ImageKind;
  description?: string;
  contents: string[];
  /** A folder of the plan copied on top of the step outputs, and its files. */
  files?: { dir: string; entries: PlanFileEntry[] };
  compression: Compression;
  sizeBytes?: number;
  label?: string;
  /** Paths whose owner is not root. */
  owners: ImageOwner[];
  devices: ImageDevice[];
  boot?: Boot;
  netboot?: Netboot;
}

export interface Stage {
  name: string;
  description?: string;
  steps: string[];
}

export interface Plan {
  name: string;
  description?: string;
  arch: string;
  upstream?: string;
  documentation?: string;
  /** The plan folder, absolute. */
  dir: string;
  /** The plan folder as the user named it, for messages. */
  displayDir: string;
  variables: Record<string, Value>;
  hostTools: string[];
  /** Debian/Ubuntu packages host steps need beyond commands, such as a library's headers. */
  hostPackages: string[];
  stages: Stage[];
  /** Every step of every stage, in stage order then listing order. */
  steps: Map<string, Step>;
  kernel?: KernelRef;
  images: Map<string, Image>;
}
