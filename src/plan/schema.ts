/**
 * The shape of plan.toml and step.toml. Unknown keys are errors: in a bootstrap, a misspelt key that is
 * silently ignored costs hours.
 */
import { z } from "zod";
import { mirrorProblem } from "../sources/mirror.ts";
import { parseDuration, parseSize } from "../units.ts";
import { describeValue } from "./describe.ts";
import { NAME_MAX_LENGTH, NAME_PATTERN } from "./names.ts";

const name = (what: string) => {
  const a = /^[aeiou]/.test(what) ? "an" : "a";
  return z.string({ error: `expected ${a} ${what} name (a string)` }).regex(NAME_PATTERN, {
    error: (issue) => {
      const input = String(issue.input);
      return input.length > NAME_MAX_LENGTH
        ? `expected ${a} ${what} name of at most ${NAME_MAX_LENGTH} characters, got one of ${input.length} (${JSON.stringify(`${input.slice(0, 20)}…`)})`
        : `expected ${a} ${what} name of lowercase letters, digits and . _ + -, starting with a letter or digit, got ${JSON.stringify(input)}`;
    },
  });
};

const stepName = name("step");
const variableName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: "expected a variable name of letters, digits and _" });

/** A relative path without `..`, inside the folder named. Checked again against the disk by the loader. */
const relativePath = (inside: string) =>
  z.string().refine((value) => isSafeRelativePath(value), {
    error: (issue) =>
      `expected a relative path inside ${inside} without "..", got ${JSON.stringify(issue.input)}${pathFault(issue.input, false)}`,
  });

/** What is wrong with a path the schema refused, for its message: the rule it breaks, not all of them. */
function pathFault(input: unknown, absolute: boolean): string {
  if (typeof input !== "string") return "";
  const parts = input.replace(/^\//, "").split("/");
  const fault =
    input === ""
      ? "it is empty"
      : absolute !== input.startsWith("/")
        ? `it ${absolute ? "does not start" : "starts"} with "/"`
        : input.includes("\0")
          ? "it holds a NUL character"
          : input.includes("\\")
            ? "it holds a backslash, which image tools read as an escape"
            : parts.includes("..")
              ? 'it has a ".." part'
              : input.endsWith("/")
                ? 'it ends with "/"'
                : parts.includes("")
                  ? 'it has "//"'
                  : parts.includes(".")
                    ? 'it has a "." part'
                    : absolute && /[\n\r]/.test(input)
                      ? "it holds a line break or carriage return, which the image tools cannot take in a name"
                      : "";
  return fault === "" ? "" : ` (${fault})`;
}

export function isSafeRelativePath(value: string): boolean {
  if (value === "" || value.startsWith("/") || value.includes("\0") || value.includes("\\")) return false;
  return value.split("/").every((part) => part !== ".." && part !== "");
}

/** A file name that lands in a build folder: one path component. */
const fileName = z
  .string()
  .refine((value) => isSafeRelativePath(value) && !value.includes("/") && value !== ".", {
    error: (issue) => `expected a plain file name without "/" or "..", got ${JSON.stringify(issue.input)}`,
  });

const isAbsolutePath = (value: string) => value.startsWith("/") && isSafeRelativePath(value.slice(1));
/** A path inside an image: the image tools take names one a line, and debugfs ends a request at \r. */
const isImagePath = (value: string) => isAbsolutePath(value) && !/[\n\r]/.test(value);
const absolutePathError = (issue: { input: unknown }) =>
  `expected an absolute path without "..", "//" or a "/" at its end, got ${JSON.stringify(issue.input)}${pathFault(issue.input, true)}`;
const absolutePath = z.string().refine(isAbsolutePath, { error: absolutePathError });
const imagePath = z.string().refine(isImagePath, { error: absolutePathError });
/** "/" too: the loader then says the sandbox keeps it, which is the better message. */
const mountPoint = z
  .string()
  .refine((value) => value === "/" || (isAbsolutePath(value) && !value.split("/").includes(".")), {
    error: (issue) =>
      `expected an absolute path without ".", "..", "//" or a "/" at its end, got ${JSON.stringify(issue.input)}${pathFault(issue.input, true)}`,
  });

const sha256 = z
  .string({ error: "expected a sha256 (64 hex characters)" })
  .refine((value) => /^[0-9a-f]{64}$/.test(value), {
    error: (issue) => {
      const text = String(issue.input);
      if (/^[0-9a-fA-F]+$/.test(text) && text.length === 64) return "expected lowercase hex";
      return `expected 64 hex characters, got ${text.length} (${JSON.stringify(text.length > 70 ? `${text.slice(0, 70)}…` : text)})`;
    },
  });

const urlScheme = (value: string) => /^(https?|ftp):\/\/[^\s/]+/.test(value) || value.startsWith("file:///");
/** Why a file:/// URL names no path (an encoded "/", a broken %-escape), or undefined. */
function filePathProblem(value: string): string | undefined {
  if (!value.startsWith("file:")) return undefined;
  try {
    process.getBuiltinModule("node:url").fileURLToPath(value);
    return undefined;
  } catch (error) {
    const message = (error as Error).message;
    return message === "URI malformed"
      ? "a %-escape in it is not UTF-8 (%zz, or a lone %E0)"
      : message.replace(/^File URL path /, "its path ");
  }
}
const url = z
  .string()
  .refine((value) => urlScheme(value) && URL.canParse(value) && filePathProblem(value) === undefined, {
    error: (issue) => {
      const text = String(issue.input);
      if (!urlScheme(text)) return `expected an http(s), ftp or file:/// URL, got ${JSON.stringify(text)}`;
      const problem = URL.canParse(text) ? filePathProblem(text) : undefined;
      return problem === undefined
        ? `expected a valid URL (a space is written %20), got ${JSON.stringify(text)}`
        : `expected a file:/// URL that names a file, got ${JSON.stringify(text)}: ${problem} (a name cannot hold "/"; "%" itself is written %25)`;
    },
  });

/** A mirror rootstock can read (see src/sources/mirror.ts): an http(s) URL or a folder. */
const mirror = z.string().refine((value) => mirrorProblem(value) === undefined, {
  error: (issue) =>
    `expected an http(s) mirror URL, a file:/// URL or an absolute folder path; ${JSON.stringify(issue.input)} ${mirrorProblem(String(issue.input))}`,
});

/** Node's timers end at 2^31 - 1 ms (24.8 days); a longer one would fire at once. */
export const LONGEST_TIMEOUT_MS = 2 ** 31 - 1;

export const duration = z.union([z.string(), z.number()]).refine(
  (value) => {
    const ms = parseDuration(value);
    return ms !== undefined && ms <= LONGEST_TIMEOUT_MS;
  },
  {
    error: (issue) =>
      (parseDuration(issue.input as string | number) ?? 0) > LONGEST_TIMEOUT_MS
        ? `expected a duration of at most 596h (24 days), got ${JSON.stringify(issue.input)}`
        : `expected a duration above zero such as "90s", "30m" or "1h30m" (a bare number is seconds), got ${JSON.stringify(issue.input)}`,
  },
);

const size = z.union([z.string(), z.number()]).refine((value) => parseSize(value) !== undefined, {
  error: (issue) => `expected a size such as "64M" or "1G", got ${JSON.stringify(issue.input)}`,
});

export const sandboxKinds = ["host", "bwrap", "chroot"] as const;
export const rootKinds = ["host", "deps"] as const;

const commandName = z.string().regex(/^[A-Za-z0-9._+-]+$/, {
  error: (issue) =>
    `expected a command name (a program on PATH, without a folder), got ${JSON.stringify(issue.input)}`,
});
const debianPackageName = z.string().regex(/^[a-z0-9][a-z0-9.+-]+$/, {
  error: (issue) => `expected a Debian package name, got ${JSON.stringify(issue.input)}`,
});

const debianProvider = z.strictObject({
  package: z.string().regex(/^[a-z0-9][a-z0-9.+-]+$/, { error: "expected a Debian source package name" }),
  version: z.string().regex(/^[A-Za-z0-9.+~:-]+$/, { error: "expected a Debian version such as 1.2.3-1" }),
  file: fileName,
});

export const sourceSchema = z
  .strictObject({
    url: url.optional(),
    sha256,
    size: z.int().positive().optional(),
    file: fileName.optional(),
    mirrors: z.array(mirror).optional(),
    extract: z.boolean().optional(),
    /** Folder under the build directory to unpack into; the first archive defaults to `src`. */
    into: relativePath("the build folder").optional(),
    debian: debianProvider.optional(),
  })
  .refine((source) => source.url !== undefined || source.debian !== undefined, {
    error: "a source needs a url, a debian provider, or both",
  });

export const mountSchema = z.strictObject({
  step: stepName,
  at: mountPoint,
});

/**
 * One line of printable text: it lands in tables, DOT labels and reports. A whole number is taken as
 * written; a TOML float is not (`1.10` reads as 1.1), so it must be quoted.
 */
const versionText = z
  .union([z.string(), z.int()], {
    error: (issue) =>
      typeof issue.input === "number"
        ? `expected a version in quotes: a TOML number loses how it was written (this one reads as ${issue.input}); write version = "…" with the digits you meant`
        : `expected a version such as "1.2.3" (a string), got ${describeValue(issue.input)}`,
  })
  .transform(String)
  .refine((value) => ![...value].some((char) => char < " " || char === "\u007f"), {
    error: (issue) => `expected one line without control characters, got ${JSON.stringify(issue.input)}`,
  });

/**
 * Free text for people (descriptions, upstream, documentation): lines and tabs, but no other control
 * characters: an escape sequence in it would reach terminals as a command (a title change, a cleared screen).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;
const prose = z.string().refine((value) => !CONTROL.test(value), {
  error: (issue) => {
    const found = CONTROL.exec(String(issue.input))?.[0] ?? "";
    return `expected text without control characters (other than line breaks and tabs), found U+${found.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")} in ${JSON.stringify(issue.input)}`;
  },
});

/**
 * A value that becomes text in a step's environment: a TOML float would not keep how it was written
 * (1.10 reads as 1.1), so only whole numbers may go unquoted.
 */
const envText = (what: string) =>
  z.union([z.string(), z.int(), z.boolean()], {
    error: (issue) =>
      typeof issue.input === "number"
        ? `expected text in quotes: a TOML number with a fraction loses how it was written (this one reads as ${issue.input}); write the digits you meant in quotes`
        : `expected ${what}, got ${describeValue(issue.input)}`,
  });

export const stepSchema = z.strictObject({
  version: versionText.optional(),
  description: prose.optional(),
  deps: z.array(stepName).optional(),
  sandbox: z.enum(sandboxKinds).optional(),
  root: z.enum(rootKinds).optional(),
  script: relativePath("the step's folder").optional(),
  /** Patches in the order they apply; without it, every file of patches/ in name order. */
  patches: z.array(relativePath("the step's patches folder")).optional(),
  jobs: z.int().min(1).max(1024).optional(),
  retries: z.int().min(0).max(100).optional(),
  timeout: duration.optional(),
  when: z.string().optional(),
  tools: z.array(commandName).optional(),
  env: z.record(variableName, envText("a string, whole number or boolean").transform(String)).optional(),
  sources: z.array(sourceSchema).optional(),
  mounts: z.array(mountSchema).optional(),
});

export const compressions = ["gzip", "xz", "zstd", "none"] as const;
export const imageKinds = ["initramfs", "ext4", "squashfs"] as const;

/** Text a program gets as an argument (a kernel command line, a label): C strings end at a NUL. */
const argumentText = z.string().refine((value) => !value.includes("\0"), {
  error: "expected text without a NUL character (\\u0000): a program's argument cannot hold one",
});

const kernelRef = z.strictObject({
  step: stepName,
  path: relativePath("the step's output"),
  cmdline: argumentText.optional(),
});

const bootSchema = z.strictObject({
  kernel: kernelRef.optional(),
  cmdline: argumentText.optional(),
  /** Another image used as the initramfs when this one is a disk. */
  initrd: name("image").optional(),
  /** Further images attached as virtio disks after this one. */
  disks: z.array(name("image")).optional(),
  memory: size.optional(),
  timeout: duration.optional(),
  prompt: z.string().optional(),
  fatal: z.array(z.string()).optional(),
  tests: z.array(relativePath("the plan")).optional(),
});

/** Ids are 32 bits; 4294967295 is the kernel's "no id". */
const owner = z
  .string()
  .regex(/^\d+:\d+$/, {
    error: (issue) =>
      `expected an owner as "uid:gid" in numbers, such as "1000:1000", got ${JSON.stringify(issue.input)}`,
    abort: true,
  })
  .refine((value) => value.split(":").every((id) => Number(id) < 4294967295), {
    error: (issue) => `expected ids below 4294967295, got ${JSON.stringify(issue.input)}`,
  });

/** A device node the image carries (a rootless build cannot create one on disk). */
const imageDevice = z.strictObject({
  path: imagePath,
  type: z.enum(["char", "block"]),
  major: z.int().min(0).max(4095),
  minor: z.int().min(0).max(1048575),
  /** Permission bits, best written as a TOML octal number: 0o600 (the default). */
  mode: z.int().min(0).max(0o7777).optional(),
  owner: owner.optional(),
});

/** What makes a squashfs image the system of a netboot bundle (see src/netboot). */
const netbootSchema = z.strictObject({
  /** The step output that holds a static busybox: the RAM root's only program. */
  busybox: z.strictObject({ step: stepName, path: relativePath("the step's output").optional() }),
  /** The system's init, which the RAM root starts with switch_root. */
  init: absolutePath
    .refine((value) => !/\s/.test(value), {
      error: "expected a path without spaces (it goes on the kernel command line)",
    })
    .optional(),
  kernel: kernelRef.optional(),
  cmdline: argumentText
    .refine((value) => !/(^|\s)rootstock\./.test(value), {
      error: "rootstock.* parameters are computed by rootstock; remove them from cmdline",
    })
    .optional(),
  /** Append the squashfs to the initramfs instead of fetching it, when it is at most this size. */
  embed: size.optional(),
  memory: size.optional(),
  timeout: duration.optional(),
  prompt: z.string().optional(),
  fatal: z.array(z.string()).optional(),
  tests: z.array(relativePath("the plan")).optional(),
});

export const imageSchema = z.strictObject({
  kind: z.enum(imageKinds),
  description: prose.optional(),
  contents: z
    .array(stepName)
    .min(1, { error: "expected at least one step whose output goes into the image" }),
  files: relativePath("the plan").optional(),
  compression: z.enum(compressions).optional(),
  size: size.optional(),
  /** ext4 keeps 16 bytes of label (mke2fs cuts a longer one short, even inside a character). */
  label: argumentText
    .refine((value) => Buffer.byteLength(value) <= 16, {
      error: (issue) =>
        `expected a label of at most 16 bytes, got ${JSON.stringify(issue.input)} (${Buffer.byteLength(String(issue.input))} bytes)`,
    })
    .optional(),
  /** Everything in an image is root's unless listed here: `{ "/home/alice" = "1000:1000" }`. */
  owners: z.record(imagePath, owner).optional(),
  devices: z.array(imageDevice).optional(),
  boot: bootSchema.optional(),
  netboot: netbootSchema.optional(),
});

const stageSchema = z.strictObject({
  name: name("stage"),
  description: prose.optional(),
  steps: z.array(stepName).min(1, { error: "expected at least one step" }),
});

export const planSchema = z.strictObject({
  name: name("plan"),
  description: prose.optional(),
  arch: z.enum(["x86_64", "aarch64", "riscv64", "i686"]),
  upstream: prose.optional(),
  documentation: prose.optional(),
  variables: z.record(variableName, envText("a string, whole number or boolean")).optional(),
  host: z
    .strictObject({
      tools: z.array(commandName).optional(),
      /** Debian/Ubuntu packages the host steps need beyond commands (headers, libraries). */
      packages: z.array(debianPackageName).optional(),
    })
    .optional(),
  defaults: z
    .strictObject({
      sandbox: z.enum(sandboxKinds).optional(),
      root: z.enum(rootKinds).optional(),
      timeout: duration.optional(),
      retries: z.int().min(0).max(100).optional(),
    })
    .optional(),
  stages: z.array(stageSchema).min(1, { error: "expected at least one stage" }),
  kernel: kernelRef.optional(),
  images: z.record(name("image"), imageSchema).optional(),
});

export type PlanFile = z.infer<typeof planSchema>;
export type StepFile = z.infer<typeof stepSchema>;
export type SourceFile = z.infer<typeof sourceSchema>;
export type ImageFile = z.infer<typeof imageSchema>;
