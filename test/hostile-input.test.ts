/**
 * Hostile plans are refused at load, before anything is fetched or written: a source file name, patch
 * path or unpack folder that climbs out with `..` or is absolute, a Debian file name with a slash, a
 * mirror that is not one. (Hostile servers — redirects to other schemes, oversized bodies, lying
 * Content-Length — are in fetch.test.ts.)
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { RootstockError, RootstockErrors } from "../src/errors.ts";
import { loadPlan } from "../src/plan/load.ts";

let work: string;
const HASH = "a".repeat(64);

before(async () => {
  work = await mkdtemp(join(tmpdir(), "rootstock-hostile-"));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Writes a one-step plan whose step.toml is `stepToml`, loads it, and returns the problems. */
async function problemsOf(
  name: string,
  stepToml: string,
): Promise<{ field?: string; message: string; line?: number }[]> {
  const dir = join(work, name);
  await mkdir(join(dir, "steps", "victim"), { recursive: true });
  await writeFile(
    join(dir, "plan.toml"),
    'name = "hostile"\narch = "x86_64"\n[[stages]]\nname = "s"\nsteps = ["victim"]\n',
  );
  await writeFile(join(dir, "steps", "victim", "step.toml"), stepToml);
  try {
    await loadPlan(dir);
  } catch (error) {
    assert.ok(error instanceof RootstockErrors, String(error));
    assert.equal(error.code, "ERR_PLAN_INVALID");
    return error.errors.map((problem) => ({
      message: problem.message,
      ...(problem.location.field === undefined ? {} : { field: problem.location.field }),
      ...(problem.location.line === undefined ? {} : { line: problem.location.line }),
    }));
  }
  assert.fail("the plan was accepted");
}

const source = (extra: string) =>
  `[[sources]]\nurl = "https://example.org/pkg.tar.gz"\nsha256 = "${HASH}"\n${extra}\n`;

describe("hostile plans", () => {
  for (const [label, toml, field, pattern] of [
    [
      "a file name with ..",
      source('file = "../../evil.tar.gz"'),
      "sources[0].file",
      /plain file name without "\/" or ".."/,
    ],
    ["an absolute file name", source('file = "/etc/passwd"'), "sources[0].file", /got "\/etc\/passwd"/],
    ["a file name with a slash", source('file = "sub/evil.tar.gz"'), "sources[0].file", /plain file name/],
    ["a file name that is ..", source('file = ".."'), "sources[0].file", /plain file name/],
    [
      "an unpack folder climbing out",
      source('into = "../outside"'),
      "sources[0].into",
      /relative path inside the build folder without ".."/,
    ],
    ["an absolute unpack folder", source('into = "/usr"'), "sources[0].into", /relative path/],
    [
      "a patch path climbing out",
      `patches = ["../../../etc/shadow"]\n`,
      "patches[0]",
      /relative path inside the step's patches folder without ".."/,
    ],
    ["an absolute patch path", `patches = ["/etc/shadow"]\n`, "patches[0]", /relative path/],
    [
      "a Debian file name with ..",
      `[[sources]]\nsha256 = "${HASH}"\ndebian = { package = "hello", version = "2.10-3", file = "../hello.tar.gz" }\n`,
      "sources[0].debian.file",
      /plain file name/,
    ],
    [
      "a Debian version that is an option",
      `[[sources]]\nsha256 = "${HASH}"\nfile = "h.tar.gz"\ndebian = { package = "-o", version = "1", file = "h.tar.gz" }\n`,
      "sources[0].debian.package",
      /Debian source package name/,
    ],
    [
      "a relative mirror",
      source('mirrors = ["mirror/dir"]'),
      "sources[0].mirrors[0]",
      /absolute folder path/,
    ],
    [
      "an ftp mirror",
      source('mirrors = ["ftp://example.org/pub"]'),
      "sources[0].mirrors[0]",
      /http\(s\) mirror URL/,
    ],
    [
      "a javascript: URL",
      `[[sources]]\nurl = "javascript:alert(1)"\nsha256 = "${HASH}"\n`,
      "sources[0].url",
      /http\(s\), ftp or file:\/\/\/ URL/,
    ],
  ] as const) {
    test(`refuses ${label}`, async () => {
      const problems = await problemsOf(label.replace(/\W+/g, "-"), toml);
      const problem = problems.find((item) => item.field === field);
      assert.ok(problem, `no problem at ${field}: ${JSON.stringify(problems)}`);
      assert.match(problem.message, pattern);
      assert.ok(problem.line !== undefined, "the error names the line");
    });
  }

  test("refuses a URL from which no file name can be derived", async () => {
    const problems = await problemsOf(
      "no-name",
      `[[sources]]\nurl = "https://example.org/x/../"\nsha256 = "${HASH}"\n`,
    );
    assert.match(problems[0]?.message ?? "", /cannot derive a file name from url/);
  });

  test("a step's files/ or patches/, or an image's files, that is a link loop, a broken link or a file is said so", async () => {
    const dir = join(work, "looped-folders");
    await mkdir(join(dir, "steps", "victim"), { recursive: true });
    await writeFile(
      join(dir, "plan.toml"),
      'name = "hostile"\narch = "x86_64"\n[[stages]]\nname = "s"\nsteps = ["victim"]\n[images.i]\nkind = "initramfs"\ncontents = ["victim"]\nfiles = "rootfs"\n',
    );
    await writeFile(join(dir, "steps", "victim", "step.toml"), 'version = "1"\n');
    await symlink("rootfs", join(dir, "rootfs"));
    const folder = join(dir, "steps", "victim");
    for (const [name, make, said] of [
      [
        "files",
        () => symlink("files", join(folder, "files")),
        /files: expected a folder, found a symbolic link to files, whose links lead round in a loop/,
      ],
      [
        "patches",
        () => symlink("patches", join(folder, "patches")),
        /patches: expected a folder, found a symbolic link to patches, whose links/,
      ],
      [
        "files",
        () => symlink("gone", join(folder, "files")),
        /files: expected a folder, found a symbolic link to gone, which does not exist/,
      ],
      ["files", () => writeFile(join(folder, "files"), ""), /files: expected a folder, found a file/],
    ] as const) {
      await make();
      const error = await loadPlan(dir).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      assert.ok(error instanceof RootstockErrors, String(error));
      const messages = error.errors.map((problem) => problem.headline).join("\n");
      assert.match(messages, said);
      assert.match(
        messages,
        /folder \S+\/rootfs is a symbolic link to rootfs, whose links lead round in a loop/,
      );
      await rm(join(folder, name));
    }
    // A plan path through a link loop: said so, not a crash.
    await symlink("loop", join(dir, "loop"));
    await assert.rejects(loadPlan(join(dir, "loop", "plan")), (error: unknown) => {
      assert.ok(error instanceof RootstockError && error.code === "ERR_PLAN_NOT_FOUND", String(error));
      return true;
    });
    // An image's files that is a file is no missing folder.
    await rm(join(dir, "rootfs"));
    await writeFile(join(dir, "rootfs"), "#!/bin/sh\n");
    const fileError = await loadPlan(dir).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    assert.ok(fileError instanceof RootstockErrors, String(fileError));
    assert.match(
      fileError.errors.map((problem) => `${problem.message} [${problem.code}]`).join("\n"),
      /folder \S+\/rootfs is a file, not a folder \[ERR_PLAN_BAD_FILE\]/,
    );
    // Through a file: no link at all, and the command line says "a part of its path is not a folder".
    await assert.rejects(loadPlan(join(dir, "plan.toml", "plan")), { code: "ENOTDIR" });
    // A name with a line break is shown as typed, on the one line of its message.
    await assert.rejects(loadPlan(join(dir, "new\nplan")), (error: unknown) => {
      assert.ok(error instanceof RootstockError, String(error));
      assert.match(error.message, /^plan folder \$'\S*new\\nplan' does not exist$/);
      return true;
    });
  });

  test("a step named nowhere is told the steps the stages list, also before they have folders", async () => {
    const dir = join(work, "no-step-folders");
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, "plan.toml"),
      'name = "early"\narch = "x86_64"\n[[stages]]\nname = "s"\nsteps = ["alpha"]\n[images.i]\nkind = "initramfs"\ncontents = ["zzz"]\n',
    );
    const error = await loadPlan(dir).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof RootstockErrors, String(error));
    const unknown = error.errors.find((problem) => problem.code === "ERR_PLAN_UNKNOWN_STEP");
    assert.equal(unknown?.hint, "steps of this plan: alpha");
  });

  test("a plan.toml that is a folder, or a step.toml that cannot be read, is not called missing", async () => {
    const dir = join(work, "unreadable");
    await mkdir(join(dir, "steps", "victim"), { recursive: true });
    await mkdir(join(dir, "plan.toml"));
    await assert.rejects(loadPlan(dir), (error: unknown) => {
      assert.ok(error instanceof RootstockError && error.code === "ERR_PLAN_BAD_FILE", String(error));
      assert.match(error.message, /plan\.toml is a folder, not a file/);
      return true;
    });
    await rm(join(dir, "plan.toml"), { recursive: true });
    // A link to itself: said so, not an internal error.
    await symlink("plan.toml", join(dir, "plan.toml"));
    await assert.rejects(loadPlan(dir), (error: unknown) => {
      assert.ok(error instanceof RootstockError && error.code === "ERR_PLAN_BAD_FILE", String(error));
      assert.match(error.message, /plan\.toml cannot be reached: a link on its way .* leads round in a loop/);
      return true;
    });
    await rm(join(dir, "plan.toml"));
    // The plan folder itself a loop: said so, not a crash.
    await symlink("loop", join(work, "loop"));
    await assert.rejects(loadPlan(join(work, "loop")), (error: unknown) => {
      assert.ok(error instanceof RootstockError && error.code === "ERR_PLAN_NOT_FOUND", String(error));
      assert.match(error.message, /is a link that leads nowhere \(or back to itself\)/);
      return true;
    });
    await writeFile(
      join(dir, "plan.toml"),
      'name = "hostile"\narch = "x86_64"\n[[stages]]\nname = "s"\nsteps = ["victim"]\n',
    );
    await writeFile(join(dir, "steps", "victim", "step.toml"), 'version = "1"\n', { mode: 0o000 });
    if (process.getuid?.() === 0) return;
    await assert.rejects(loadPlan(dir), (error: unknown) => {
      assert.equal((error as NodeJS.ErrnoException).code, "EACCES", String(error));
      return true;
    });
  });

  test("a plan folder whose name is not UTF-8 is said to be so, not missing", async () => {
    // As Node hands such a name over: U+FFFD in place of its bytes.
    await mkdir(Buffer.from(`${work}/pl\xe9/sub`, "latin1"), { recursive: true });
    await assert.rejects(loadPlan(join(work, "pl\uFFFD")), (error: unknown) => {
      assert.ok(error instanceof RootstockError && error.code === "ERR_PLAN_NOT_FOUND", String(error));
      assert.match(error.message, /its name is not valid UTF-8/);
      return true;
    });
    // A folder above it so named (the current folder, when the plan is given as "."), said as such.
    await assert.rejects(loadPlan(join(work, "pl\uFFFD", "sub"), { displayDir: "." }), (error: unknown) => {
      assert.ok(error instanceof RootstockError && error.code === "ERR_PLAN_NOT_FOUND", String(error));
      assert.match(
        error.message,
        /^plan folder \. cannot be opened: the name of \S+\/pl\uFFFD is not valid UTF-8/,
      );
      return true;
    });
    // A name that holds a real U+FFFD and is not there is missing, not mis-encoded.
    await assert.rejects(loadPlan(join(work, "typo-\uFFFD")), (error: unknown) => {
      assert.ok(error instanceof RootstockError && error.code === "ERR_PLAN_NOT_FOUND", String(error));
      assert.match(error.message, /typo-\uFFFD does not exist$/);
      return true;
    });
  });

  test("a file of the plan whose name is not UTF-8 is named as such, not a crash", async () => {
    const dir = join(work, "latin1");
    await mkdir(join(dir, "steps", "victim", "files"), { recursive: true });
    // "café.txt" as a Latin-1 system writes it.
    await writeFile(Buffer.from(`${join(dir, "steps", "victim", "files")}/caf\xe9.txt`, "latin1"), "x\n");
    await writeFile(
      join(dir, "plan.toml"),
      'name = "hostile"\narch = "x86_64"\n[[stages]]\nname = "s"\nsteps = ["victim"]\n',
    );
    await writeFile(join(dir, "steps", "victim", "step.toml"), 'version = "1"\n');
    const error = await loadPlan(dir).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    const problems = error instanceof RootstockErrors ? error.errors : [error];
    assert.ok(
      problems.some(
        (problem) =>
          problem instanceof RootstockError &&
          problem.code === "ERR_PLAN_BAD_FILE" &&
          /is not valid UTF-8 text/.test(problem.message),
      ),
      String(error),
    );
  });

  test("refuses an into that places nothing, names the build folder, or cannot be a folder's name", async () => {
    const source = `[[sources]]\nurl = "https://example.org/x.tar.gz"\nsha256 = "${HASH}"\n`;
    for (const [extra, said] of [
      ['extract = false\ninto = "blobs"\n', /extract = false is not unpacked/],
      [
        'file = "x.c"\ninto = "blobs"\n',
        /x\.c is no archive rootstock knows by its name, so it is not unpacked/,
      ],
      ['into = "."\n', /not the build folder itself/],
      [`into = "${"a".repeat(260)}"\n`, /at most 255 bytes/],
      // Spelt with "./", the step's own folders are as much its own.
      ['into = "./files"\n', /files\/ holds the step's files\/ \(\$FILES\)/],
      ['into = "./sources/x"\n', /sources\/ holds the step's source files/],
    ] as const) {
      const problems = await problemsOf(
        `into-${said.source.slice(0, 8).replace(/\W/g, "")}`,
        `${source}${extra}`,
      );
      const problem = problems.find((item) => item.field === "sources[0].into");
      assert.ok(problem, JSON.stringify(problems));
      assert.match(problem.message, said);
    }
  });

  test("a mount of a step the plan does not have is said so, not told to add it to deps", async () => {
    const problems = await problemsOf(
      "mount-nowhere",
      'version = "1"\n[[mounts]]\nstep = "zz"\nat = "/zz"\n',
    );
    const problem = problems.find((item) => item.field === "mounts[0].step");
    assert.match(problem?.message ?? "", /mounts "zz", which is not a step of this plan/);
    const own = await problemsOf("mount-own", 'version = "1"\n[[mounts]]\nstep = "victim"\nat = "/v"\n');
    assert.match(own.find((item) => item.field === "mounts[0].step")?.message ?? "", /mounts its own output/);
  });

  test("two sources to unpack into one folder are refused however it is spelt", async () => {
    const problems = await problemsOf(
      "into-twice",
      `[[sources]]\nurl = "https://example.org/x.tar.gz"\nsha256 = "${HASH}"\n[[sources]]\nurl = "https://example.org/y.tar.gz"\nsha256 = "${HASH.replace(/^./, "1")}"\ninto = "./src"\n`,
    );
    const problem = problems.find((item) => item.field === "sources[1].into");
    assert.ok(problem, JSON.stringify(problems));
    assert.match(problem.message, /sources\[0\] and sources\[1\] would both be unpacked into "\.\/src"/);
  });

  test("accepts what is fine beside those refusals: into ./src, a mount at an existing folder under /usr", async () => {
    const dir = join(work, "fine");
    await mkdir(join(dir, "steps", "a"), { recursive: true });
    await mkdir(join(dir, "steps", "b"), { recursive: true });
    await writeFile(
      join(dir, "plan.toml"),
      'name = "fine"\narch = "x86_64"\n[[stages]]\nname = "s"\nsteps = ["a", "b"]\n',
    );
    await writeFile(
      join(dir, "steps", "a", "step.toml"),
      `version = "1"\n[[sources]]\nurl = "https://example.org/x.tar.gz"\nsha256 = "${HASH}"\ninto = "./src"\n`,
    );
    await writeFile(
      join(dir, "steps", "b", "step.toml"),
      'version = "1"\ndeps = ["a"]\nmounts = [{ step = "a", at = "/usr/src" }]\n',
    );
    await loadPlan(dir);
  });

  test("refuses a mount at, inside or over what the host's tools run from and read", async () => {
    // /lib is /usr/lib on a merged-/usr host; /usr/local/bin comes first on the steps' PATH.
    const hidden = ["/lib/x86_64-linux-gnu", "/etc/alternatives", "/usr/local", "/usr/local/bin/x", "/sbin"];
    const dir = join(work, "mount-host-tools");
    await mkdir(join(dir, "steps", "a"), { recursive: true });
    await writeFile(join(dir, "steps", "a", "step.toml"), 'version = "1"\n');
    await writeFile(
      join(dir, "plan.toml"),
      `name = "m"\narch = "x86_64"\n[[stages]]\nname = "s"\nsteps = ["a", ${hidden.map((_, index) => `"b${index}"`).join(", ")}]\n`,
    );
    for (const [index, at] of hidden.entries()) {
      await mkdir(join(dir, "steps", `b${index}`), { recursive: true });
      await writeFile(
        join(dir, "steps", `b${index}`, "step.toml"),
        `version = "1"\ndeps = ["a"]\nmounts = [{ step = "a", at = "${at}" }]\n`,
      );
    }
    const error = await loadPlan(dir).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof RootstockErrors, String(error));
    assert.deepEqual(
      error.errors.map((problem) => [problem.code, problem.message]),
      hidden.map((at) => {
        const within = ["/lib", "/etc", "/usr/local/bin"].find((folder) => at.startsWith(`${folder}/`));
        return [
          "ERR_PLAN_MOUNT_RESERVED",
          within === undefined
            ? `mount at ${at} would hide the host's ${at}`
            : `mount at ${at} is inside the host's ${within}, which its tools run from and read`,
        ];
      }),
    );
  });

  test("refuses a device or owner path with a line break or carriage return, which image tools cannot take", async () => {
    const dir = join(work, "device-line-break");
    await mkdir(join(dir, "steps", "k"), { recursive: true });
    await writeFile(
      join(dir, "plan.toml"),
      'name = "dev"\narch = "x86_64"\n[[stages]]\nname = "s"\nsteps = ["k"]\n[images.sq]\nkind = "squashfs"\ncontents = ["k"]\ndevices = [{ path = "/n/x\\ny", type = "char", major = 1, minor = 3 }]\nowners = { "/a\\rb" = "1:1", "/tab\\there" = "1:1" }\n',
    );
    await writeFile(join(dir, "steps", "k", "step.toml"), 'version = "1"\n');
    const error = await loadPlan(dir).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof RootstockErrors, String(error));
    const said = error.errors.map((problem) => `${problem.location.field}: ${problem.message}`).join("\n");
    assert.match(said, /images\.sq\.devices\[0\]\.path: .*it holds a line break or carriage return/);
    assert.match(said, /images\.sq\.owners[^:]*: .*it holds a line break or carriage return/);
    assert.equal(error.errors.length, 2, said);
  });

  test("refuses a NUL in a kernel command line or an ext4 label, which go to programs as arguments", async () => {
    const dir = join(work, "nul-args");
    await mkdir(join(dir, "steps", "k"), { recursive: true });
    await writeFile(
      join(dir, "plan.toml"),
      'name = "nul"\narch = "x86_64"\nkernel = { step = "k", path = "boot/bzImage" }\n[[stages]]\nname = "s"\nsteps = ["k"]\n[images.ram]\nkind = "initramfs"\ncontents = ["k"]\n[images.ram.boot]\ncmdline = "rdinit=/init\\u0000x"\n[images.disk]\nkind = "ext4"\ncontents = ["k"]\nlabel = "r\\u0000x"\n',
    );
    await writeFile(join(dir, "steps", "k", "step.toml"), 'version = "1"\n');
    const error = await loadPlan(dir).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof RootstockErrors, String(error));
    const fields = error.errors.map((problem) => problem.location.field);
    assert.ok(
      fields.includes("images.ram.boot.cmdline") && fields.includes("images.disk.label"),
      String(fields),
    );
  });

  test("refuses a source file name longer than a file name may be, or holding a newline", async () => {
    const long = await problemsOf(
      "long-name",
      `[[sources]]\nurl = "https://example.org/x"\nsha256 = "${HASH}"\nfile = "${"x".repeat(250)}.tar.gz"\n`,
    );
    assert.equal(long[0]?.field, "sources[0].file");
    assert.match(long[0]?.message ?? "", /is 257 bytes long; a file name may have at most 255/);
    // From the URL, when no `file` is given: the URL is what to change.
    const fromUrl = await problemsOf(
      "long-url",
      `[[sources]]\nurl = "https://example.org/${"日".repeat(90)}"\nsha256 = "${HASH}"\n`,
    );
    assert.equal(fromUrl[0]?.field, "sources[0].url");
    const newline = await problemsOf(
      "newline-name",
      `[[sources]]\nurl = "https://example.org/x"\nsha256 = "${HASH}"\nfile = "new\\nline.tar.gz"\n`,
    );
    assert.match(newline[0]?.message ?? "", /holds a control character/);
    // DEL, which JSON leaves raw, is shown too: the name must not look clean.
    const del = await problemsOf(
      "del-name",
      `[[sources]]\nurl = "https://example.org/x"\nsha256 = "${HASH}"\nfile = "a\\u007fb.tar.gz"\n`,
    );
    assert.match(del[0]?.message ?? "", /"a\\u007fb\.tar\.gz" holds a control character/);
    assert.ok(newline[0]?.line !== undefined, "the error names the line");
  });

  test("a percent-encoded .. in a URL stays a harmless file name", async () => {
    const dir = join(work, "encoded");
    await mkdir(join(dir, "steps", "victim"), { recursive: true });
    await writeFile(
      join(dir, "plan.toml"),
      'name = "hostile"\narch = "x86_64"\n[[stages]]\nname = "s"\nsteps = ["victim"]\n',
    );
    await writeFile(
      join(dir, "steps", "victim", "step.toml"),
      `[[sources]]\nurl = "https://example.org/a/..%2f..%2fetc%2fpasswd"\nsha256 = "${HASH}"\n`,
    );
    const plan = await loadPlan(dir);
    const file = plan.steps.get("victim")?.sources[0]?.file ?? "";
    assert.ok(!file.includes("/"), file);
    assert.equal(file, "..%2f..%2fetc%2fpasswd");
  });
});
