/**
 * The malformed-plan corpus: every folder under test/plans/malformed is a plan with a mistake people
 * make. Each must be refused with its stable code, a message that names the file, line and field, and
 * no stack trace.
 */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { runCli, STACK_LINE } from "./helpers/cli.ts";

const CORPUS = join(import.meta.dirname, "plans", "malformed");

interface Expectation {
  code: string;
  /** `file:line:` or `file:` relative to the case folder, as printed. */
  where: string;
  message: RegExp;
  hint?: RegExp;
  /** How many problems the plan has (default 1). */
  problems?: number;
}

const CASES: Record<string, Expectation> = {
  "toml-syntax-plan": {
    code: "ERR_PLAN_TOML_SYNTAX",
    where: "plan.toml:1:",
    message: /TOML syntax error: .*column 15/,
  },
  "toml-syntax-step": {
    code: "ERR_PLAN_TOML_SYNTAX",
    where: "steps/a/step.toml:1:",
    message: /TOML syntax error/,
  },
  "toml-unterminated-string": {
    code: "ERR_PLAN_TOML_SYNTAX",
    where: "steps/a/step.toml:1:",
    message: /TOML syntax error/,
    hint: /is its closing quote missing\?/,
  },
  "toml-control-character": {
    code: "ERR_PLAN_TOML_SYNTAX",
    where: "steps/a/step.toml:1:",
    message: /control characters are not allowed in strings/,
    hint: /write a control character in a string as an escape/,
  },
  "description-escape": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "plan.toml:6:",
    message:
      /stages\[0\]\.description: expected text without control characters \(other than line breaks and tabs\), found U\+001B/,
  },
  "dep-variable-clash": {
    code: "ERR_PLAN_DEP_VARIABLE_CLASH",
    where: "steps/top/step.toml:2:",
    message: /deps\[1\]: "a_b" and "a-b" would both be \$DEP_A_B/,
    hint: /rename one of the two steps/,
  },
  "env-float": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "steps/a/step.toml:4:",
    message:
      /env\.LEVEL: expected text in quotes: a TOML number with a fraction loses how it was written \(this one reads as 1\.1\)/,
  },
  "source-into-clash": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "steps/a/step.toml:10:",
    message: /sources\[1\]\.into: sources\[0\] and sources\[1\] would both be unpacked into "src"/,
    hint: /give one of them its own `into/,
  },
  "source-into-reserved": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "steps/a/step.toml:6:",
    message: /cannot unpack into "sources\/a": sources\/ holds the step's source files/,
  },
  "image-step-broken": {
    // Only the step's own problem: the image that names it is not told it names no step.
    code: "ERR_PLAN_BAD_VALUE",
    where: "steps/a/step.toml:2:",
    message: /sandbox/,
  },
  "toml-not-utf8": {
    code: "ERR_PLAN_NOT_UTF8",
    where: "steps/a/step.toml:2:",
    message: /this line is not UTF-8 text/,
    hint: /iconv -f LATIN1 -t UTF-8/,
  },
  "toml-duplicate-key": {
    code: "ERR_PLAN_TOML_SYNTAX",
    where: "plan.toml:3:",
    message: /redefine/,
    hint: /arch is given twice in the same table; keep one/,
  },
  "unknown-key-plan": {
    code: "ERR_PLAN_UNKNOWN_KEY",
    where: "plan.toml:1:",
    message: /nmae: unknown key "nmae"/,
    hint: /did you mean "name"/,
    problems: 2,
  },
  "unknown-key-step": {
    code: "ERR_PLAN_UNKNOWN_KEY",
    where: "steps/a/step.toml:1:",
    message: /vesion: unknown key/,
    hint: /did you mean "version"/,
  },
  "unknown-key-source": {
    code: "ERR_PLAN_UNKNOWN_KEY",
    where: "steps/a/step.toml:5:",
    message: /sources\[0\]\.sha265: unknown key/,
    hint: /"sha256"/,
    problems: 2,
  },
  "missing-name": {
    code: "ERR_PLAN_MISSING_FIELD",
    where: "plan.toml:",
    message: /name: required field is missing \(expected a string\)/,
  },
  "missing-stages": {
    code: "ERR_PLAN_MISSING_FIELD",
    where: "plan.toml:",
    message: /stages: required field is missing \(expected a list\)/,
  },
  "empty-stage": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "plan.toml:13:",
    message: /stages\[1\]\.steps: expected at least one step/,
  },
  "bad-arch": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "plan.toml:2:",
    message: /arch: expected one of "x86_64".*got "x86-64"/,
    hint: /did you mean "x86_64"/,
  },
  "bad-sandbox": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "steps/a/step.toml:2:",
    message: /sandbox: expected one of "host", "bwrap", "chroot", got "bwarp"/,
    hint: /"bwrap"/,
  },
  "bad-sha256-length": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "steps/a/step.toml:5:",
    message: /sources\[0\]\.sha256: expected 64 hex characters, got 63/,
  },
  "bad-sha256-uppercase": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "steps/a/step.toml:5:",
    message: /expected lowercase hex/,
  },
  "bad-timeout": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "steps/a/step.toml:2:",
    message: /timeout: expected a duration above zero such as "90s".*got "soon"/,
  },
  "timeout-too-long": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "steps/a/step.toml:2:",
    message: /timeout: expected a duration of at most 596h \(24 days\), got "600h"/,
  },
  "bad-retries": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "steps/a/step.toml:2:",
    message: /retries: expected at least 0, got number -1/,
  },
  "bad-deps-type": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "steps/b/step.toml:2:",
    message: /deps: expected a list, got "a"/,
  },
  "bad-variable-value": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "plan.toml:5:",
    message: /variables\.BUILD_KERNEL: expected a string, whole number or boolean, got a list of 2/,
  },
  "bad-step-name": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "plan.toml:9:",
    message:
      /stages\[0\]\.steps\[1\]: expected a step name of lowercase letters, digits and \. _ \+ -, starting with a letter or digit, got "B"/,
  },
  "name-too-long": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "plan.toml:1:",
    message: /name: expected a plan name of at most 100 characters, got one of 101 \("p{20}…"\)/,
  },
  "version-float": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "steps/a/step.toml:1:",
    message:
      /version: expected a version in quotes: a TOML number loses how it was written \(this one reads as 1\.1\)/,
  },
  "stages-misspelt": {
    code: "ERR_PLAN_UNKNOWN_KEY",
    where: "plan.toml:4:",
    message: /stage: unknown key "stage"/,
    hint: /did you mean "stages"\?/,
    problems: 2,
  },
  "step-missing": {
    code: "ERR_PLAN_STEP_MISSING",
    where: "plan.toml:9:",
    message: /step "bb" has no steps\/bb\/step\.toml/,
    // Not "did you mean b": b is listed too, and its folder is its own.
    hint: /^ {4}hint: create \S+steps\/bb\/step\.toml$/,
  },
  "step-duplicate": {
    code: "ERR_PLAN_STEP_DUPLICATE",
    where: "plan.toml:13:",
    message: /step "a" is listed twice \(first in stage "one"\)/,
  },
  "step-toml-missing": {
    code: "ERR_PLAN_STEP_MISSING",
    where: "plan.toml:6:",
    message: /step "b" has no steps\/b\/step\.toml/,
    hint: /hint: create \S+steps\/b\/step\.toml$/,
  },
  "step-folder-dangling-link": {
    code: "ERR_PLAN_STEP_MISSING",
    where: "plan.toml:6:",
    message:
      /step "b" has no steps\/b\/step\.toml \(steps\/b is a symbolic link to \.\.\/\.\.\/gone, which does not exist\)/,
    hint: /point the link at a step folder inside the plan/,
  },
  "step-unlisted": {
    code: "ERR_PLAN_STEP_UNLISTED",
    where: "plan.toml:",
    message: /steps\/extra is not listed in any stage/,
  },
  "unknown-dep": {
    code: "ERR_PLAN_UNKNOWN_DEP",
    where: "steps/b/step.toml:2:",
    message: /deps\[0\]: depends on "aa"/,
    hint: /did you mean "a"/,
  },
  cycle: {
    code: "ERR_PLAN_CYCLE",
    where: "steps/a/step.toml:1:",
    message: /dependency cycle: a → c → b → a/,
  },
  "self-cycle": { code: "ERR_PLAN_CYCLE", where: "steps/a/step.toml:1:", message: /dependency cycle: a → a/ },
  "stage-order": {
    code: "ERR_PLAN_STAGE_ORDER",
    where: "steps/a/step.toml:1:",
    message: /depends on "b" of the later stage "two"/,
  },
  "script-missing": {
    code: "ERR_PLAN_SCRIPT_MISSING",
    where: "steps/a/step.toml:2:",
    message: /script .*steps\/a\/build-all\.sh does not exist/,
  },
  "script-folder": {
    code: "ERR_PLAN_SCRIPT_NOT_FILE",
    where: "steps/a/build.sh:",
    message: /the step's script is a folder, not a file/,
    hint: /remove it to use the default phases/,
  },
  "script-dangling-link": {
    code: "ERR_PLAN_SCRIPT_NOT_FILE",
    where: "steps/a/build.sh:",
    message: /the step's script is a link to nothing, not a file/,
  },
  "script-names-folder": {
    code: "ERR_PLAN_SCRIPT_NOT_FILE",
    where: "steps/a/step.toml:2:",
    message: /script: script .*steps\/a\/scripts is a folder, not a file/,
  },
  "patch-missing": {
    code: "ERR_PLAN_PATCH_MISSING",
    where: "steps/a/step.toml:2:",
    message: /patches\[0\]: patch .*patches\/01-fix\.patch does not exist/,
  },
  "patch-unlisted": {
    code: "ERR_PLAN_PATCH_UNLISTED",
    where: "steps/a/step.toml:2:",
    message: /patches\/02-forgotten\.patch is in the step's folder but not in its patches list/,
    hint: /add "02-forgotten\.patch" to patches/,
  },
  "patch-unlisted-sub": {
    code: "ERR_PLAN_PATCH_UNLISTED",
    where: "steps/a/step.toml:2:",
    message: /patches\/sub\/03-deeper\.patch is in the step's folder but not in its patches list/,
    problems: 1,
  },
  "patch-twice": {
    code: "ERR_PLAN_DUPLICATE_PATCH",
    where: "steps/a/step.toml:2:",
    message: /"01-fix\.patch" is listed twice in patches/,
  },
  "patch-traversal": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "steps/a/step.toml:2:",
    message:
      /patches\[0\]: expected a relative path inside the step's patches folder without "\.\.", got "\.\.\/\.\.\//,
  },
  "patch-absolute": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "steps/a/step.toml:2:",
    message: /patches\[0\]: expected a relative path .*got "\/etc\/passwd"/,
  },
  "source-file-traversal": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "steps/a/step.toml:6:",
    message:
      /sources\[0\]\.file: expected a plain file name without "\/" or "\.\.", got "\.\.\/\.\.\/evil\.tar\.gz"/,
  },
  "source-file-absolute": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "steps/a/step.toml:6:",
    message: /sources\[0\]\.file: expected a plain file name.*got "\/etc\/passwd"/,
  },
  "source-no-origin": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "steps/a/step.toml:3:",
    message: /sources\[0\]: a source needs a url, a debian provider, or both/,
  },
  "source-bad-url": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "steps/a/step.toml:4:",
    message: /sources\[0\]\.url: expected an http\(s\), ftp or file:\/\/\/ URL, got "example\.org/,
  },
  "source-unparsable-url": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "steps/a/step.toml:4:",
    message: /sources\[0\]\.url: expected a valid URL \(a space is written %20\), got "http:\/\/exa mple/,
  },
  // Node cannot make a path of it: a crash of sources list and fetch before.
  "source-file-url-encoded-slash": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "steps/a/step.toml:4:",
    message:
      /sources\[0\]\.url: expected a file:\/\/\/ URL that names a file, got "file:\/\/\/srv\/a%2Fb\.tar\.gz": its path must not include encoded \/ characters/,
  },
  "source-bad-mirror": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "steps/a/step.toml:6:",
    message: /sources\[0\]\.mirrors\[0\]: .*"http:\/\/\[::1" is not a valid URL/,
  },
  "source-duplicate-name": {
    code: "ERR_PLAN_DUPLICATE_SOURCE",
    where: "steps/a/step.toml:7:",
    message: /two sources are both named a\.tar\.gz/,
  },
  "symlink-escape": {
    code: "ERR_PLAN_PATH_ESCAPES",
    where: "steps/a/files/hostname:",
    message: /a link leads outside the plan \(to \/etc\/hostname\)/,
  },
  "step-folder-escape": {
    code: "ERR_PLAN_PATH_ESCAPES",
    where: "steps/a:",
    message: /a link leads outside the plan \(to .*\/test\/plans\/outside\)/,
  },
  "plan-toml-escape": {
    code: "ERR_PLAN_PATH_ESCAPES",
    where: "plan.toml:",
    message: /a link leads outside the plan \(to .*\/test\/plans\/outside\/data\.txt\)/,
    problems: 0,
  },
  "files-folder-escape": {
    code: "ERR_PLAN_PATH_ESCAPES",
    where: "steps/a/files:",
    message: /a link leads outside the plan \(to .*\/test\/plans\/outside\)/,
  },
  "env-reserved": {
    code: "ERR_PLAN_RESERVED_ENV",
    where: "steps/a/step.toml:4:",
    message: /env\.OUT: rootstock sets OUT itself/,
    hint: /may replace PATH, PREFIX, LC_ALL and SOURCE_DATE_EPOCH/,
  },
  "env-dep-prefix": {
    code: "ERR_PLAN_RESERVED_ENV",
    where: "steps/a/step.toml:4:",
    message: /env\.DEP_FOO: names that begin with DEP_ are rootstock's/,
    hint: /choose another name/,
  },
  "mount-reserved": {
    code: "ERR_PLAN_MOUNT_RESERVED",
    where: "steps/b/step.toml:2:",
    message: /mounts\[0\]\.at: mount at \/deps\/c: the sandbox keeps \/deps/,
  },
  "mount-twice": {
    code: "ERR_PLAN_MOUNT_TWICE",
    where: "steps/b/step.toml:",
    message: /mounts\[1\]\.at: two mounts at \/serpent/,
  },
  "dep-twice": {
    code: "ERR_PLAN_DUPLICATE_DEP",
    where: "steps/b/step.toml:1:",
    message: /deps\[1\]: "a" is listed twice in deps/,
  },
  "host-root-deps": {
    code: "ERR_BUILD_HOST_ROOT",
    where: "steps/b/step.toml:3:",
    message: /sandbox = "host" runs in the host's root, not root = "deps"/,
  },
  "empty-root": {
    code: "ERR_PLAN_EMPTY_ROOT",
    where: "steps/a/step.toml:2:",
    message: /root = "deps" with no deps/,
  },
  "version-newline": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "steps/a/step.toml:1:",
    message: /version: expected one line without control characters/,
  },
  "stage-duplicate": {
    code: "ERR_PLAN_STAGE_DUPLICATE",
    where: "plan.toml:9:",
    message: /two stages are named "one"/,
  },
  "script-crlf": {
    code: "ERR_PLAN_SCRIPT_CRLF",
    where: "steps/a/build.sh:",
    message: /the script has Windows line ends \(CR LF\)/,
    hint: /sed -i 's\/\\r\$\/\/'/,
  },
  "sources-table": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "steps/a/step.toml:2:",
    message: /sources: expected a list, got a table/,
    hint: /a list of tables is written \[\[sources\]\], once per item/,
  },
  "image-size-squashfs": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "plan.toml:11:",
    message: /images\.sq\.size: size is for ext4 images; image "sq" is squashfs/,
  },
  "owner-too-big": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "plan.toml:11:",
    message: /images\.root\.owners\.\/home\/alice: expected ids below 4294967295, got "99999999999:0"/,
  },
  "owner-words": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "plan.toml:11:",
    message:
      /images\.root\.owners\.\/home\/alice: expected an owner as "uid:gid" in numbers, such as "1000:1000", got "alice" \[ERR/,
  },
  "owner-relative": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "plan.toml:11:",
    message:
      /images\.root\.owners\.home\/alice: expected an absolute path without "\.\.", "\/\/" or a "\/" at its end, got "home\/alice" \(it does not start with "\/"\) \[ERR/,
  },
  "bad-arch-stray-broken": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "plan.toml:2:",
    message: /arch: expected one of "x86_64", "aarch64", "riscv64", "i686", got "sparc64"/,
    // Its stages list "a" only: the broken step.toml of a folder they do not list is not one of its steps.
  },
  "bad-arch-stray-folder": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "plan.toml:2:",
    message: /arch: expected one of "x86_64", "aarch64", "riscv64", "i686", got "sparc64"/,
    // Not also "step cc has no step.toml": whether a stage lists it is told once plan.toml is read.
  },
  "owner-backslash": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "plan.toml:11:",
    message:
      /got "\/home\/back\\\\slash" \(it holds a backslash, which image tools read as an escape\) \[ERR/,
  },
  "image-bad-name": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "plan.toml:8:",
    message: /images\.Root Disk: expected an image name of lowercase letters, .*, got "Root Disk" \[ERR/,
  },
  "source-size-zero": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "steps/a/step.toml:6:",
    message: /sources\[0\]\.size: expected a number above 0, got number 0/,
  },
  "empty-root-defaults": {
    code: "ERR_PLAN_EMPTY_ROOT",
    where: "plan.toml:12:",
    message: /defaults\.root, taken by step "a": root = "deps" with no deps/,
  },
  "mount-nested": {
    code: "ERR_PLAN_MOUNT_NESTED",
    where: "steps/b/step.toml:",
    message: /mounts at \/serpent\/lib and \/serpent: one lies inside the other/,
  },
  "mount-host-bin": {
    code: "ERR_PLAN_MOUNT_RESERVED",
    where: "steps/b/step.toml:2:",
    message: /mount at \/bin would hide the host's \/bin/,
  },
  // /usr/bin is /bin on a merged-/usr host: hidden as surely.
  "mount-host-usr-bin": {
    code: "ERR_PLAN_MOUNT_RESERVED",
    where: "steps/b/step.toml:2:",
    message: /mount at \/usr\/bin would hide the host's \/usr\/bin/,
  },
  "predicate-syntax": {
    code: "ERR_PLAN_PREDICATE",
    where: "steps/a/step.toml:2:",
    message: /when: cannot parse .*expected a value, found end of expression at column 16/,
  },
  "predicate-types": {
    code: "ERR_PLAN_PREDICATE_TYPES",
    where: "steps/a/step.toml:2:",
    message: /predicate compares LEVEL \(a number\) == true \(a boolean\), which can never be alike/,
    hint: /a number with a number/,
  },
  "predicate-unknown-variable": {
    code: "ERR_PLAN_UNKNOWN_VARIABLE",
    where: "steps/a/step.toml:2:",
    message: /uses variable "BUILD_KERNELS"/,
    hint: /did you mean "BUILD_KERNEL"/,
  },
  "env-unclosed": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "steps/a/step.toml:4:",
    message: /env\.KERNEL: env KERNEL has a \$\{ without its closing \}/,
    hint: /\$\$ for a literal \$/,
  },
  "env-unknown-variable": {
    code: "ERR_PLAN_UNKNOWN_VARIABLE",
    where: "steps/a/step.toml:4:",
    message: /env\.KERNEL: env KERNEL uses \$\{KERNEL_VERSION\}/,
  },
  "mount-not-dep": {
    code: "ERR_PLAN_MOUNT_NOT_DEP",
    where: "steps/b/step.toml:2:",
    message: /mounts\[0\]\.step: mounts "a" at \/serpent, but does not depend on it/,
  },
  "mount-relative": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "steps/b/step.toml:3:",
    message: /mounts\[0\]\.at: expected an absolute path/,
  },
  "image-unknown-step": {
    code: "ERR_PLAN_UNKNOWN_STEP",
    where: "plan.toml:13:",
    message: /images\.root\.contents\[1\]: names step "c"/,
  },
  "image-no-kernel": {
    code: "ERR_PLAN_NO_KERNEL",
    where: "plan.toml:15:",
    message: /image "root" boots, but no kernel is declared/,
  },
  "image-unknown-initrd": {
    code: "ERR_PLAN_UNKNOWN_IMAGE",
    where: "plan.toml:14:",
    message: /images\.disk\.boot\.initrd: names image "initrd"/,
  },
  "image-initramfs-initrd": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "plan.toml:14:",
    message: /images\.disk\.boot\.initrd: image "disk" is an initramfs, which boots as its own initrd/,
    hint: /remove initrd/,
  },
  "image-initrd-is-disk": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "plan.toml:14:",
    message: /images\.disk\.boot\.initrd: image "other" is ext4, expected initramfs/,
    hint: /kind = "initramfs"/,
  },
  "image-ext4-compressed": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "plan.toml:14:",
    message: /an ext4 image is not compressed, got compression = "xz"/,
  },
  "image-ext4-label-bytes": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "plan.toml:14:",
    message: /images\.disk\.label: expected a label of at most 16 bytes, got "ä{11}" \(22 bytes\)/,
  },
  "image-device-twice": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "plan.toml:14:",
    message: /images\.disk\.devices\[1\]\.path: image "disk" lists the device \/dev\/vdz twice/,
    hint: /one entry per device path/,
  },
  "image-squashfs-label": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "plan.toml:14:",
    message: /label is for ext4 images; image "system" is squashfs/,
    hint: /remove label: a squashfs has no volume label$/,
  },
  "image-run-folder-name": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "plan.toml:11:",
    message: /images\.junit\.xml: image name "junit\.xml" is taken by a file of every run's folder/,
  },
  "image-test-folder": {
    code: "ERR_PLAN_FILE_MISSING",
    where: "plan.toml:17:",
    message: /test .*image-test-folder\/tests is a folder, not a file/,
    hint: /each named, such as tests\/boot\.test\.ts/,
  },
  "image-test-missing": {
    code: "ERR_PLAN_FILE_MISSING",
    where: "plan.toml:17:",
    message: /test .*tests\/boot\.test\.ts does not exist/,
  },
  "image-bad-fatal-pattern": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "plan.toml:17:",
    message: /fatal pattern "Oops\(\[0-9" is not a valid regular expression/,
  },
  "image-bad-prompt": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "plan.toml:17:",
    message: /images\.root\.boot\.prompt: prompt "\[# \$" is not a valid regular expression/,
  },
  "image-files-missing": {
    code: "ERR_PLAN_FILE_MISSING",
    where: "plan.toml:14:",
    message: /images\.root\.files: folder .*rootfs does not exist/,
  },
  "netboot-not-squashfs": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "plan.toml:13:",
    message: /images\.root\.netboot: image "root" is ext4; a netboot system is a squashfs/,
    hint: /kind = "squashfs"/,
  },
  "netboot-unknown-busybox": {
    code: "ERR_PLAN_UNKNOWN_STEP",
    where: "plan.toml:14:",
    message: /images\.system\.netboot\.busybox\.step: names step "bussybox"/,
  },
  "netboot-no-kernel": {
    code: "ERR_PLAN_NO_KERNEL",
    where: "plan.toml:12:",
    message: /image "system" netboots, but no kernel is declared/,
  },
  "netboot-reserved-cmdline": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "plan.toml:15:",
    message: /netboot\.cmdline: rootstock\.\* parameters are computed by rootstock/,
  },
  "netboot-relative-init": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "plan.toml:15:",
    message:
      /netboot\.init: expected an absolute path without "\.\.", "\/\/" or a "\/" at its end, got "sbin\/init"/,
  },
  "netboot-missing-busybox": {
    code: "ERR_PLAN_MISSING_FIELD",
    where: "plan.toml:13:",
    message: /images\.system\.netboot\.busybox: required field is missing/,
    problems: 2,
  },
  "no-plan-toml": { code: "ERR_PLAN_NOT_FOUND", where: "plan.toml:", message: /no plan\.toml in/ },
  "many-problems": {
    code: "ERR_PLAN_BAD_VALUE",
    where: "steps/b/step.toml:3:",
    message: /retries: expected a number, got "3"/,
    problems: 4,
  },
  "dep-disabled": {
    code: "ERR_PLAN_DEP_DISABLED",
    where: "steps/b/step.toml:2:",
    message: /step "b" needs "a", which is disabled by when = "!BUILD_KERNEL"/,
  },
};

describe("malformed plan corpus", () => {
  test("every corpus folder has an expectation, and the corpus is large", () => {
    const folders = readdirSync(CORPUS).sort();
    assert.deepEqual(folders, Object.keys(CASES).sort());
    assert.ok(folders.length >= 30, `only ${folders.length} malformed plans`);
  });

  for (const [name, expected] of Object.entries(CASES)) {
    test(name, async () => {
      const dir = join("test", "plans", "malformed", name);
      const { code, stdout, stderr } = await runCli(["plan", "show", dir]);
      assert.equal(code, 1, `exit status for ${name}: ${stderr}`);
      assert.equal(stdout, "");
      assert.doesNotMatch(stderr, STACK_LINE, "a user mistake must not print a stack trace");
      assert.doesNotMatch(stderr, /internal error/);
      const lines = stderr.split("\n");
      const line = lines.find((text) => text.includes(`[${expected.code}]`) && expected.message.test(text));
      assert.ok(line, `no ${expected.code} line matching ${expected.message} in:\n${stderr}`);
      assert.ok(
        line.includes(`${join(dir, expected.where)}`),
        `"${line}" does not name ${join(dir, expected.where)}`,
      );
      if (expected.hint) {
        const index = lines.indexOf(line);
        assert.match(lines[index + 1] ?? "", expected.hint, `hint after "${line}"`);
      }
      const problems = lines.filter((text) => /^\s+- /.test(text)).length;
      if (expected.code !== "ERR_PLAN_NOT_FOUND") assert.equal(problems, expected.problems ?? 1, stderr);
    });
  }
});
