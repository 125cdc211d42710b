/**
 * The system works, whatever it boots from: the plan's kernel runs it, its own compiler builds and runs
 * a program, and nothing of the build host is in its root. The initramfs runs this module; the
 * netbooted system's module runs these cases first, and the root disk's module the first of them.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { TestEvidence, TestModule } from "rootstock/check";
import { bootedKernelRelease, declaredKernelRelease } from "./kernel-release.ts";

/** The only program interpreter a dynamic executable may name, and the only library it may need. */
const MUSL_LOADER = "/lib/ld-musl-x86_64.so.1";
const MUSL_LIBC = "libc.so";
const EM_X86_64 = 62;

/**
 * Strings that only a file made with the build host's files would contain: glibc's loader, library
 * and symbol versions; Debian's multiarch folders and gcc's own; the folders a step sees in rootstock's
 * sandbox, which a build could bake into what it installs. The system's own paths (`/usr/include`,
 * `/lib`) are not among them.
 */
const HOST_STRINGS = [
  "ld-linux-x86-64.so",
  "libc.so.6",
  "GLIBC_2.",
  "x86_64-linux-gnu",
  "/usr/lib/gcc",
  "/deps/",
  "/build/",
  "/out/",
];

/** The report's "Can install further software from source" is answered by this case. */
export const evidence = {
  buildsSoftware: ["compiles and runs a C program with its own tcc"],
} satisfies TestEvidence;

export default {
  async "boots the plan's kernel to a shell"(machine, context) {
    await machine.waitForConsole(/tiny-linux: up, root on \S+/);
    const release = (await machine.succeed("uname -r")).trim();
    assert.equal(release, await declaredKernelRelease(), "uname -r is the release the plan declares");
    // Known from QEMU's command line, or from the linux step's output where the test is given it.
    const booted = await bootedKernelRelease(machine, context);
    if (booted !== undefined)
      assert.equal(release, booted, "uname -r is the release of the kernel file booted");
  },

  async "compiles and runs a C program with its own tcc"(machine) {
    await machine.succeed(`mkdir -p /tmp/cc && cat > /tmp/cc/sort-words.c <<'END_OF_C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int compare(const void *a, const void *b) {
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Prints its arguments sorted, on one line built on the heap; returns how many there were. */
int main(int argc, char **argv) {
	char *line = calloc(1, 1);
	qsort(argv + 1, argc - 1, sizeof *argv, compare);
	for (int i = 1; i < argc; i++) {
		line = realloc(line, strlen(line) + strlen(argv[i]) + 2);
		strcat(strcat(line, i > 1 ? " " : ""), argv[i]);
	}
	puts(line);
	free(line);
	return argc - 1;
}
END_OF_C`);
    await machine.succeed("cd /tmp/cc && tcc -o sort-words sort-words.c");
    // Both ways tcc runs what it compiles: a program file, and straight from memory.
    for (const program of ["/tmp/cc/sort-words", "tcc -run /tmp/cc/sort-words.c"]) {
      const run = await machine.execute(`${program} musl tcc busybox linux`);
      assert.equal(run.output, "busybox linux musl tcc\n", `the output of ${program}`);
      assert.equal(run.status, 4, `the exit status of ${program}`);
    }
  },

  async "has no host leftovers in its root"(machine) {
    // Checked inside the running system, by a program its own tcc compiles: what is audited is the
    // root as booted (any image kind, or a netbooted overlay), not a file on the host.
    const source = await readFile(join(import.meta.dirname, "audit-root.c"), "utf8");
    await machine.succeed(`cat > /tmp/audit-root.c <<'END_OF_C'\n${source}END_OF_C`);
    // musl's loader is looked for too, as a control: tcc names it as the interpreter of what it links.
    const quoted = [...HOST_STRINGS, MUSL_LOADER].map((text) => `'${text}'`).join(" ");
    await machine.succeed("tcc -o /tmp/audit-root /tmp/audit-root.c");
    const report = await machine.succeed(`/tmp/audit-root ${quoted}`, { timeout: 120_000 });
    const lines = report
      .trimEnd()
      .split("\n")
      .map((line) => line.split("\t"));
    const read = lines.find((fields) => fields[0] === "read");
    assert.ok(read, `the audit ended early:\n${report}`);
    const problems: string[] = [];
    const elfFiles: string[] = [];
    const namingMusl: string[] = [];
    for (const [kind, path, ...rest] of lines) {
      if (kind === "error") problems.push(`${path}: unreadable (${rest[0]})`);
      if (kind === "match" && rest[0] === MUSL_LOADER) namingMusl.push(path as string);
      else if (kind === "match") problems.push(`${path}: contains "${rest[0]}"`);
      if (kind !== "elf") continue;
      elfFiles.push(path as string);
      const [elfClass, machineType, , interp, needed] = rest;
      if (elfClass !== "64" || Number(machineType) !== EM_X86_64)
        problems.push(`${path}: not x86_64 (class ${elfClass}, machine ${machineType})`);
      if (interp !== "-" && interp !== MUSL_LOADER) problems.push(`${path}: interpreter ${interp}`);
      for (const library of needed === "-" || needed === undefined ? [] : needed.split(","))
        if (library !== MUSL_LIBC) problems.push(`${path}: needs ${library}`);
    }
    assert.deepEqual(problems, [], `host leftovers in the root:\n${problems.join("\n")}`);
    // The audit saw the system: its shell, its compiler and musl (libc.so, also its loader).
    for (const expected of ["/bin/busybox", "/usr/bin/tcc", "/usr/lib/libc.so"])
      assert.ok(
        elfFiles.includes(expected),
        `${expected} is among the ELF files the audit found (${elfFiles.length} in ${read[1]} files)`,
      );
    assert.ok(namingMusl.includes("/usr/bin/tcc"), "the audit finds the strings it looks for");
  },
} satisfies TestModule;
