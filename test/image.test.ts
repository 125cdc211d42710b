/**
 * Image builders with the real tools: what goes in (contents, modes, owners, links, device nodes),
 * layer order, caching by key, and the same bytes from the same inputs.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmod, chown, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { gunzipSync } from "node:zlib";
import { RootstockError } from "../src/errors.ts";
import type { RootstockEvent } from "../src/events.ts";
import { buildImage } from "../src/image/build-image.ts";
import type { ImageSpec } from "../src/image/image-spec.ts";
import { computeManifest } from "../src/store/manifest.ts";
import { readNewc } from "./fixtures/read-newc.ts";

let work: string;
let base: string;
let overlay: string;
let planFiles: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "rootstock-image-test-"));
  base = join(work, "base");
  overlay = join(work, "overlay");
  planFiles = join(work, "rootfs");
  await mkdir(join(base, "bin"), { recursive: true });
  await mkdir(join(base, "etc"), { recursive: true });
  await mkdir(join(base, "secret"), { recursive: true });
  await mkdir(join(base, "doc", "old"), { recursive: true });
  await writeFile(join(base, "bin", "tool"), "#!/bin/sh\necho tool\n");
  await chmod(join(base, "bin", "tool"), 0o755);
  await writeFile(join(base, "bin", "suid"), "setuid\n");
  await chmod(join(base, "bin", "suid"), 0o4755);
  await symlink("tool", join(base, "bin", "sh"));
  await writeFile(join(base, "etc", "motd"), "from base\n");
  await writeFile(join(base, "secret", "key"), "k\n");
  await chmod(join(base, "secret"), 0o700);
  await writeFile(join(base, "doc", "old", "a.txt"), "a\n");
  // What a chroot step's chown leaves (only root can): owners the image keeps.
  await mkdir(join(base, "home", "bob"), { recursive: true });
  await writeFile(join(base, "home", "bob", "file"), "bob's\n");
  await writeFile(join(base, "srv-helper"), "helper\n");
  if (isRoot) {
    await chown(join(base, "home", "bob"), 1001, 1002);
    await chown(join(base, "home", "bob", "file"), 1001, 1002);
    await chown(join(base, "srv-helper"), 123, 456);
  }
  // After the chown, which clears a setuid bit.
  await chmod(join(base, "srv-helper"), 0o4750);
  // A read-only folder, as store entries are: later layers must still add to it.
  await chmod(join(base, "etc"), 0o555);

  await mkdir(join(overlay, "etc"), { recursive: true });
  await writeFile(join(overlay, "etc", "motd"), "from overlay\n");
  await writeFile(join(overlay, "etc", "extra"), "extra\n");
  await writeFile(join(overlay, "doc"), "doc is a file now\n");
  // Quotes and backslashes, which debugfs and mksquashfs read quoted.
  await writeFile(join(overlay, 'say "hi"\\x'), "odd name\n");
  // A later layer's folder mode wins, as with any other entry.
  await chmod(join(overlay, "etc"), 0o555);

  await mkdir(join(planFiles, "etc"), { recursive: true });
  await writeFile(join(planFiles, "init"), "#!/bin/sh\nexec /bin/sh\n");
  await chmod(join(planFiles, "init"), 0o775);
  await writeFile(join(planFiles, "etc", "hostname"), "tiny\n");
  await chmod(join(planFiles, "etc", "hostname"), 0o600);
  // The plan's files are root's in the image, whoever checked them out.
  if (isRoot) await chown(join(planFiles, "etc", "hostname"), 4242, 4242);
});

const isRoot = process.getuid?.() === 0;
/** Entries a step chowned, with the owners the image keeps (made only when the tests run as root). */
const STEP_OWNED: Record<string, [number, number]> = isRoot
  ? { "home/bob": [1001, 1002], "home/bob/file": [1001, 1002], "srv-helper": [123, 456] }
  : {};

after(async () => {
  execFileSync("chmod", ["-R", "u+w", work]);
  await rm(work, { recursive: true, force: true });
});

function spec(kind: ImageSpec["kind"], extra: Partial<ImageSpec> = {}): ImageSpec {
  return {
    name: `test-${kind}`,
    kind,
    compression: kind === "initramfs" ? "gzip" : kind === "squashfs" ? "xz" : "none",
    layers: [
      { dir: base, label: "base" },
      { dir: overlay, label: "overlay" },
    ],
    files: { dir: planFiles },
    owners: [{ path: "/secret", uid: 1000, gid: 100 }],
    devices: [{ path: "/dev/null", type: "char", major: 1, minor: 3, mode: 0o666, uid: 0, gid: 0 }],
    ...extra,
  };
}

async function store(name: string): Promise<string> {
  const dir = join(work, name);
  await mkdir(dir, { recursive: true });
  return dir;
}

describe("initramfs", () => {
  test("holds the layers in order, the plan files, owners, links and device nodes", async () => {
    const events: RootstockEvent[] = [];
    const built = await buildImage(spec("initramfs"), {
      storeDir: await store("s1"),
      emit: (e) => events.push(e),
    });
    assert.equal(built.cached, false);
    assert.match(built.path, /images\/[0-9a-f]{64}\/image\.cpio\.gz$/);
    // Closed to other users, as the folder it was staged in: it holds a step's setuid programs.
    assert.equal((await stat(dirname(built.path))).mode & 0o777, 0o700);
    assert.deepEqual(
      events.map((event) => event.type),
      ["image:start", "image:done"],
    );
    const entries = readNewc(gunzipSync(await readFile(built.path)));
    const byName = new Map(entries.map((entry) => [entry.name, entry]));
    const get = (name: string) => {
      const entry = byName.get(name);
      assert.ok(entry, `${name} is in the archive (has: ${[...byName.keys()].join(", ")})`);
      return entry;
    };
    assert.equal(get(".").mode, 0o040755);
    assert.equal(get("bin/tool").mode, 0o100755);
    assert.equal(get("bin/suid").mode, 0o104755);
    assert.equal(get("bin/sh").mode & 0o170000, 0o120000);
    assert.equal(get("bin/sh").data.toString(), "tool");
    assert.equal(get("etc").mode, 0o040555);
    assert.equal(get("etc/motd").data.toString(), "from overlay\n");
    assert.equal(get("etc/extra").data.toString(), "extra\n");
    assert.equal(get("doc").mode & 0o170000, 0o100000, "a later file replaces an earlier folder");
    assert.equal(byName.has("doc/old/a.txt"), false);
    assert.equal(get("init").mode, 0o100755, "plan files are 0755 when executable");
    assert.equal(get("etc/hostname").mode, 0o100644, "and 0644 otherwise");
    assert.equal(get("etc/hostname").data.toString(), "tiny\n");
    assert.equal(get("dev/console").mode, 0o020600);
    assert.deepEqual([get("dev/console").rdevMajor, get("dev/console").rdevMinor], [5, 1]);
    assert.equal(get("dev/null").mode, 0o020666);
    for (const entry of entries) {
      assert.equal(entry.mtime, 0, `${entry.name} has the fixed time`);
      if (entry.name === "secret" || (entry.name in STEP_OWNED && entry.uid !== 0)) continue;
      // Folders come first as root's (below); a step-owned file only in its owner's archive.
      if (entry.name in STEP_OWNED && entry.name !== "home/bob")
        assert.fail(`${entry.name} appears as root's`);
      assert.deepEqual([entry.uid, entry.gid], [0, 0], `${entry.name} is root's`);
    }
    for (const [name, owner] of Object.entries(STEP_OWNED))
      assert.deepEqual(
        [
          entries.findLast((entry) => entry.name === name)?.uid,
          entries.findLast((entry) => entry.name === name)?.gid,
        ],
        owner,
        `${name} keeps the owner its step gave it`,
      );
    if (isRoot) assert.equal(get("srv-helper").mode, 0o104750);
    // The folder appears as root's first (so its children unpack), then again with its owner.
    const secrets = entries.filter((entry) => entry.name === "secret");
    assert.deepEqual(
      secrets.map((entry) => [entry.uid, entry.gid, entry.mode]),
      [
        [0, 0, 0o040700],
        [1000, 100, 0o040700],
      ],
    );
    const names = entries.map((entry) => entry.name);
    assert.ok(names.indexOf("bin") < names.indexOf("bin/tool"), "parents come before children");
  });

  test("is found in the store the second time, and is the same bytes in another store", async () => {
    const first = await buildImage(spec("initramfs"), { storeDir: await store("s2") });
    const events: RootstockEvent[] = [];
    const again = await buildImage(spec("initramfs"), {
      storeDir: await store("s2"),
      emit: (e) => events.push(e),
    });
    assert.equal(again.cached, true);
    assert.equal(again.path, first.path);
    assert.deepEqual(
      events.map((event) => event.type),
      ["image:cached"],
    );
    const elsewhere = await buildImage(spec("initramfs"), { storeDir: await store("s3") });
    assert.equal(elsewhere.cached, false);
    assert.equal(elsewhere.key, first.key);
    assert.equal(elsewhere.sha256, first.sha256);
    assert.deepEqual(await readFile(elsewhere.path), await readFile(first.path));
  });

  test("a changed setting or layer changes the key", async () => {
    const dir = await store("s4");
    const gzip = await buildImage(spec("initramfs"), { storeDir: dir });
    const xz = await buildImage(spec("initramfs", { compression: "xz" }), { storeDir: dir });
    assert.notEqual(xz.key, gzip.key);
    assert.match(xz.path, /image\.cpio\.xz$/);
    const zstd = await buildImage(spec("initramfs", { compression: "zstd" }), { storeDir: dir });
    const none = await buildImage(spec("initramfs", { compression: "none" }), { storeDir: dir });
    const plain = readNewc(await readFile(none.path));
    const unzstd = execFileSync("zstd", ["-d", "-c", zstd.path], { maxBuffer: 1 << 26 });
    const unxz = execFileSync("xz", ["-d", "-c", xz.path], { maxBuffer: 1 << 26 });
    assert.deepEqual(readNewc(unzstd), plain);
    assert.deepEqual(readNewc(unxz), plain);
    const keyed = await buildImage(
      spec("initramfs", {
        layers: [
          { dir: base, key: "a".repeat(64) },
          { dir: overlay, key: "b".repeat(64) },
        ],
      }),
      { storeDir: dir },
    );
    assert.notEqual(keyed.key, gzip.key, "a step key replaces the tree digest in the key");
    assert.equal(keyed.sha256, gzip.sha256, "but the bytes are the same");
  });
});

describe("ext4", () => {
  test("holds the contents with their modes, owners, links and device nodes", async () => {
    const built = await buildImage(spec("ext4", { label: "rootfs" }), { storeDir: await store("e1") });
    const debugfs = (request: string) =>
      execFileSync("debugfs", ["-R", request, built.path], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      });
    const stat = (path: string) => {
      const text = debugfs(`stat ${path}`);
      const mode = /Mode:\s+(\d+)/.exec(text)?.[1];
      const user = /User:\s+(\d+)\s+Group:\s+(\d+)/.exec(text);
      const type = /Type: (\w+)/.exec(text)?.[1];
      return {
        mode: Number.parseInt(mode ?? "-1", 8),
        uid: Number(user?.[1]),
        gid: Number(user?.[2]),
        type,
        text,
      };
    };
    assert.equal(debugfs("cat /etc/motd"), "from overlay\n");
    assert.equal(debugfs("cat /init"), "#!/bin/sh\nexec /bin/sh\n");
    assert.deepEqual([stat("/bin/suid").mode, stat("/bin/suid").uid, stat("/bin/suid").gid], [0o4755, 0, 0]);
    assert.equal(stat("/etc").mode, 0o555);
    assert.equal(stat("/init").mode, 0o755);
    assert.equal(stat("/etc/hostname").mode, 0o644);
    assert.deepEqual([stat("/secret").uid, stat("/secret").gid, stat("/secret").mode], [1000, 100, 0o700]);
    for (const [name, owner] of Object.entries(STEP_OWNED))
      assert.deepEqual([stat(`/${name}`).uid, stat(`/${name}`).gid], owner, `${name} keeps its step's owner`);
    assert.deepEqual([stat("/etc/hostname").uid, stat("/etc/hostname").gid], [0, 0], "plan files are root's");
    assert.equal(stat("/bin/sh").type, "symlink");
    assert.match(stat("/bin/sh").text, /Fast link dest: "tool"/);
    const null_ = stat("/dev/null");
    assert.equal(null_.type, "character");
    assert.equal(null_.mode, 0o666);
    assert.match(null_.text, /Device major\/minor number: 01:03/);
    assert.equal(stat("/doc").type, "regular");
    // mke2fs copies each staged file's change time; the bytes must not depend on when it was staged.
    for (const path of ["/", "/etc/motd", "/bin/sh", "/secret", "/dev/null", '"/say ""hi""\\x"'])
      assert.match(stat(path).text, /^\s*ctime: 0x00000000:/m, `${path} has a fixed change time`);
    const header = execFileSync("dumpe2fs", ["-h", built.path], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    assert.match(header, /Filesystem volume name:\s+rootfs/);
    // Inodes in proportion to the disk, as mke2fs gives: a guest can make files until the disk is full.
    const inodes = Number(/Inode count:\s+(\d+)/.exec(header)?.[1]);
    const blocks = Number(/Block count:\s+(\d+)/.exec(header)?.[1]);
    assert.ok(inodes >= Math.floor((blocks * 4096) / 16384), `${inodes} inodes for ${blocks} blocks`);
    assert.match(header, new RegExp(`Filesystem UUID:\\s+${built.key.slice(0, 8)}-`));
  });

  test("is the same bytes when built again in another store, seconds later", async () => {
    const first = await buildImage(spec("ext4"), { storeDir: await store("e2") });
    // mke2fs copies the staged files' ctime: a later build must not show it (this once failed under load).
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const second = await buildImage(spec("ext4"), { storeDir: await store("e3") });
    assert.equal(second.cached, false);
    assert.equal(second.sha256, first.sha256);
  });

  test("a size too small is a user error naming the image, down to less than a block", async () => {
    for (const [sizeBytes, shown] of [
      [64 * 1024, "64 KiB"],
      [1024, "1.0 KiB"],
      [1, "1 B"],
    ] as const) {
      await assert.rejects(
        buildImage(spec("ext4", { sizeBytes }), { storeDir: await store(`e4-${sizeBytes}`) }),
        (error: unknown) => {
          assert.ok(error instanceof RootstockError);
          assert.equal(error.code, "ERR_IMAGE_TOO_SMALL", error.message);
          assert.match(
            error.message,
            new RegExp(`^image test-ext4: ${shown} is too small for \\d+ entries holding `),
          );
          assert.match(error.hint ?? "", /raise size/);
          return true;
        },
      );
    }
  });

  test("a device declared where the contents hold a file is a user error, not a silent replacement", async () => {
    const devices = [
      { path: "/bin/tool", type: "char" as const, major: 1, minor: 3, mode: 0o666, uid: 0, gid: 0 },
    ];
    await assert.rejects(
      buildImage(spec("ext4", { devices }), { storeDir: await store("e5") }),
      (error: unknown) => {
        assert.ok(error instanceof RootstockError);
        assert.equal(error.code, "ERR_IMAGE_DEVICE_PATH");
        assert.match(
          error.message,
          /devices names \/bin\/tool, where the image's contents already hold a file/,
        );
        return true;
      },
    );
    // Under a file or a link, it would drop that entry for a folder: refused in every kind.
    for (const [kind, path, what] of [
      ["ext4", "/bin/tool/dev0", /\/bin\/tool in the image's contents is a file, not a folder/],
      ["squashfs", "/bin/sh/dev0", /\/bin\/sh in the image's contents is a link, not a folder/],
      ["initramfs", "/bin/sh/dev0", /\/bin\/sh in the image's contents is a link, not a folder/],
    ] as const) {
      const under = [{ ...(devices[0] as (typeof devices)[number]), path }];
      await assert.rejects(
        buildImage(spec(kind, { devices: under }), { storeDir: await store(`e5-${kind}`) }),
        (error: unknown) => {
          assert.ok(error instanceof RootstockError);
          assert.equal(error.code, "ERR_IMAGE_DEVICE_PATH");
          assert.match(error.message, what);
          return true;
        },
      );
    }
    // An initramfs's own /dev/console, which the plan did not list, is not blamed on its devices.
    const withConsole = join(work, "with-console");
    await mkdir(join(withConsole, "dev"), { recursive: true });
    await writeFile(join(withConsole, "dev", "console"), "");
    await assert.rejects(
      buildImage(spec("initramfs", { devices: [], files: { dir: withConsole } }), {
        storeDir: await store("e5c"),
      }),
      (error: unknown) => {
        assert.ok(error instanceof RootstockError);
        assert.equal(error.code, "ERR_IMAGE_DEVICE_PATH");
        assert.match(error.message, /an initramfs carries its own \/dev\/console .* hold a file there/);
        assert.equal(error.location.field, undefined, "no field of the plan's made it");
        return true;
      },
    );
    // Nor is a /dev that the contents make a link.
    const devLink = join(work, "dev-link");
    await mkdir(join(devLink, "real"), { recursive: true });
    await symlink("real", join(devLink, "dev"));
    await assert.rejects(
      buildImage(spec("initramfs", { devices: [], files: { dir: devLink } }), {
        storeDir: await store("e5d"),
      }),
      (error: unknown) => {
        assert.ok(error instanceof RootstockError);
        assert.equal(error.code, "ERR_IMAGE_DEVICE_PATH");
        assert.match(
          error.message,
          /an initramfs carries its own \/dev\/console .* make \/dev a link, not a folder/,
        );
        assert.equal(error.location.field, undefined);
        return true;
      },
    );
  });

  test("an entry whose manifest was damaged is built again and replaced, never followed elsewhere", async () => {
    const storeDir = await store("e7");
    const first = await buildImage(spec("ext4"), { storeDir });
    const manifest = join(dirname(first.path), "manifest.json");
    for (const damage of [null, { file: "../../../../etc/passwd", sha256: "x", bytes: 1 }]) {
      await writeFile(manifest, JSON.stringify(damage));
      const again = await buildImage(spec("ext4"), { storeDir });
      assert.equal(again.cached, false);
      assert.equal(again.path, first.path);
      assert.equal(again.sha256, first.sha256);
      assert.equal(
        (await buildImage(spec("ext4"), { storeDir })).cached,
        true,
        "and then it is cached again",
      );
    }
    // Its image file removed, or cut short, by hand: built again, not reported as cached.
    for (const damage of [() => rm(first.path), () => writeFile(first.path, "cut")]) {
      await damage();
      const again = await buildImage(spec("ext4"), { storeDir });
      assert.equal(again.cached, false);
      assert.equal(again.sha256, first.sha256);
    }
  });

  test("owners naming a path the image lacks is a user error naming where it is declared", async () => {
    const owners = [{ path: "/home/nobody", uid: 1000, gid: 100 }];
    await assert.rejects(
      buildImage(spec("ext4", { owners, declaredIn: "plan/plan.toml" }), { storeDir: await store("e6") }),
      (error: unknown) => {
        assert.ok(error instanceof RootstockError);
        assert.equal(error.code, "ERR_IMAGE_OWNER_PATH");
        assert.match(
          error.headline,
          /^plan\/plan\.toml: images\.test-ext4\.owners: image test-ext4: owners names \/home\/nobody, which the image does not contain/,
        );
        return true;
      },
    );
  });
});

describe("squashfs", () => {
  test("holds the contents with their modes, owners, links and device nodes, reproducibly", async () => {
    const built = await buildImage(spec("squashfs"), { storeDir: await store("q1") });
    const listing = execFileSync("unsquashfs", ["-lln", built.path], { encoding: "utf8" });
    const line = (path: string) => {
      const found = listing
        .split("\n")
        .find((row) => row.endsWith(`squashfs-root${path}`) || row.includes(`squashfs-root${path} -> `));
      assert.ok(found, `${path} is listed in:\n${listing}`);
      return found;
    };
    assert.match(line("/bin/suid"), /^-rwsr-xr-x 0\/0 /);
    assert.match(line("/bin/sh"), /^lrwxrwxrwx 0\/0 .* -> tool$/);
    assert.match(line("/secret"), /^drwx------ 1000\/100 /);
    assert.match(line("/etc"), /^dr-xr-xr-x 0\/0 /);
    assert.match(line("/dev/null"), /^crw-rw-rw- 0\/0\s+1,\s+3 1970-01-01 00:00 /);
    assert.match(line("/init"), /^-rwxr-xr-x 0\/0 /);
    assert.match(line("/etc/hostname"), /^-rw-r--r-- 0\/0 /);
    for (const [name, [uid, gid]] of Object.entries(STEP_OWNED))
      assert.match(line(`/${name}`), new RegExp(`^\\S+ ${uid}/${gid} `), `${name} keeps its step's owner`);
    const alone = await buildImage(spec("squashfs", { name: "no-owners", owners: [] }), {
      storeDir: await store("q3"),
    });
    const plain = execFileSync("unsquashfs", ["-lln", alone.path], { encoding: "utf8" });
    for (const [name, [uid, gid]] of Object.entries(STEP_OWNED))
      assert.match(
        plain,
        new RegExp(`^\\S+ ${uid}/${gid} .*squashfs-root/${name}$`, "m"),
        `${name}, without owners`,
      );
    const again = await buildImage(spec("squashfs"), { storeDir: await store("q2") });
    assert.equal(again.sha256, built.sha256);
  });
});

describe("paths near Linux's limit", () => {
  test("a content path too long to stage is a user error naming the image, not a crash", async () => {
    // 20 folders of 199 bytes: fine where the step left it, too long under the image's staging folder.
    const deep = join(work, "deep");
    await mkdir(deep, { recursive: true });
    execFileSync("sh", [
      "-c",
      'cd "$1" && s=$(printf "%0199d" 0) && i=0 && while [ $i -lt 20 ]; do mkdir "$s" && cd "$s" || exit 1; i=$((i+1)); done && echo deep > f',
      "sh",
      deep,
    ]);
    await assert.rejects(
      buildImage(
        { name: "too-deep", kind: "initramfs", compression: "gzip", layers: [{ dir: deep, label: "deep" }] },
        { storeDir: await store("deep-store") },
      ),
      (error: unknown) => {
        assert.ok(error instanceof RootstockError, String(error));
        assert.equal(error.code, "ERR_IMAGE_PATH_TOO_LONG");
        assert.match(error.message, /image too-deep: a path of its contents is too long/);
        return true;
      },
    );
    execFileSync("rm", ["-rf", deep]);
  });
});

test("an empty folder in a plan's files folder is in the image's key, as it is in the image", async () => {
  const files = join(work, "files-with-folders");
  await mkdir(join(files, "etc"), { recursive: true });
  await writeFile(join(files, "etc", "hostname"), "box\n");
  const entries = [{ path: "etc/hostname", sha256: "x".repeat(64), size: 4, executable: false }];
  const image = (storeDir: string) =>
    buildImage(spec("initramfs", { files: { dir: files, entries }, owners: [], devices: [] }), { storeDir });
  const storeDir = await store("files-folders");
  const before = await image(storeDir);
  await mkdir(join(files, "var", "empty"), { recursive: true });
  const after = await image(storeDir);
  assert.notEqual(after.key, before.key, "the new folder is a new image");
  assert.equal(after.cached, false);
  const listing = execFileSync("sh", ["-c", `gzip -dc ${after.path} | cpio -t 2>/dev/null`], {
    encoding: "utf8",
  });
  assert.match(listing, /^var\/empty$/m);
});

test("a FIFO or a socket in the contents is refused naming it, each with a hint of its own", async () => {
  const odd = join(work, "odd-files");
  await mkdir(odd, { recursive: true });
  execFileSync("mkfifo", [join(odd, "pipe")]);
  const sockets = join(work, "odd-sockets");
  await mkdir(sockets, { recursive: true });
  execFileSync("python3", [
    "-c",
    "import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])",
    join(sockets, "sock"),
  ]);
  const image = (dir: string, name: string) =>
    buildImage(
      { name, kind: "squashfs", compression: "gzip", layers: [{ dir, label: "c" }] },
      { storeDir: join(work, `store-${name}`) },
    );
  await assert.rejects(image(odd, "fifo"), (error: unknown) => {
    assert.ok(error instanceof RootstockError, String(error));
    assert.equal(error.code, "ERR_IMAGE_UNSUPPORTED_FILE");
    assert.match(error.message, /^image fifo: c holds \/pipe, a FIFO, which images do not carry$/);
    assert.match(error.hint ?? "", /mkfifo/);
    return true;
  });
  await assert.rejects(image(sockets, "socket"), (error: unknown) => {
    assert.ok(error instanceof RootstockError, String(error));
    assert.equal(error.code, "ERR_IMAGE_UNSUPPORTED_FILE");
    assert.match(error.message, /^image socket: c holds \/sock, a socket, which images do not carry$/);
    assert.doesNotMatch(error.hint ?? "", /mkfifo/);
    assert.match(error.hint ?? "", /the program that listens on it/);
    return true;
  });
});

test("a top-level TRAILER!!!, which ends a cpio archive, is refused for an initramfs naming it", async () => {
  const dir = join(work, "trailer");
  await mkdir(join(dir, "sub"), { recursive: true });
  await writeFile(join(dir, "TRAILER!!!"), "t\n");
  await writeFile(join(dir, "zz"), "z\n");
  const image = (kind: ImageSpec["kind"], layer: string) =>
    buildImage(
      { name: `trailer-${kind}`, kind, compression: "gzip", layers: [{ dir: layer, label: "n" }] },
      { storeDir: join(work, "store-trailer") },
    );
  await assert.rejects(image("initramfs", dir), (error: unknown) => {
    assert.ok(error instanceof RootstockError, String(error));
    assert.equal(error.code, "ERR_IMAGE_UNSUPPORTED_FILE");
    assert.match(
      error.message,
      /^image trailer-initramfs: its contents hold \/TRAILER!!!, the name that ends a cpio archive/,
    );
    return true;
  });
  // Other kinds carry it, and so does an initramfs below the top (the kernel compares whole paths).
  await image("squashfs", dir);
  await rm(join(dir, "TRAILER!!!"));
  await writeFile(join(dir, "sub", "TRAILER!!!"), "t\n");
  const built = await image("initramfs", dir);
  const listing = execFileSync("sh", ["-c", `gzip -dc '${built.path}' | cpio -t 2>/dev/null`], {
    encoding: "utf8",
  });
  assert.match(listing, /^sub\/TRAILER!!!$/m);
  assert.match(listing, /^zz$/m);
});

/** Mode (permission bits), uid and gid of each path in an image, read with the kind's own tools. */
function inImage(built: { kind: ImageSpec["kind"]; path: string }, paths: string[]): Map<string, number[]> {
  const found = new Map<string, number[]>();
  if (built.kind === "initramfs") {
    const entries = readNewc(gunzipSync(execFileSync("cat", [built.path])));
    // The last archive holding a path gives it its owner, as the kernel unpacks them.
    for (const path of paths) {
      const entry = entries.findLast((item) => item.name === path);
      if (entry) found.set(path, [entry.mode & 0o7777, entry.uid, entry.gid]);
    }
  } else if (built.kind === "squashfs") {
    const listing = execFileSync("unsquashfs", ["-lln", built.path], { encoding: "utf8" }).split("\n");
    for (const path of paths) {
      const row = listing.find((line) => line.endsWith(`squashfs-root/${path}`));
      const [perms = "", owner = ""] = row?.split(/\s+/) ?? [];
      if (!row) continue;
      let mode = 0;
      for (let index = 0; index < 9; index++)
        if (!"-ST".includes(perms[index + 1] ?? "-")) mode |= 1 << (8 - index);
      if ("sS".includes(perms[3] ?? "")) mode |= 0o4000;
      if ("sS".includes(perms[6] ?? "")) mode |= 0o2000;
      if ("tT".includes(perms[9] ?? "")) mode |= 0o1000;
      const [uid, gid] = owner.split("/").map(Number);
      found.set(path, [mode, uid ?? -1, gid ?? -1]);
    }
  } else {
    for (const path of paths) {
      const text = execFileSync("debugfs", ["-R", `stat "/${path}"`, built.path], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      });
      const mode = /Mode:\s+(\d+)/.exec(text)?.[1];
      const user = /User:\s+(\d+)\s+Group:\s+(\d+)/.exec(text);
      if (mode) found.set(path, [Number.parseInt(mode, 8), Number(user?.[1]), Number(user?.[2])]);
    }
  }
  return found;
}

test("a folder a chroot step gave an owner keeps it when a later step or the plan's files only have it again", {
  skip: isRoot ? false : "needs root to give a folder another owner",
}, async () => {
  const first = join(work, "owned-first");
  const later = join(work, "owned-later");
  const files = join(work, "owned-files");
  await mkdir(join(first, "home", "bob"), { recursive: true });
  await writeFile(join(first, "home", "bob", "a"), "a\n");
  await chown(join(first, "home", "bob"), 1001, 1001);
  await chmod(join(first, "home", "bob"), 0o700);
  await mkdir(join(later, "home", "bob"), { recursive: true });
  await writeFile(join(later, "home", "bob", ".profile"), "p\n");
  await chmod(join(later, "home", "bob"), 0o700);
  await mkdir(join(files, "home", "bob"), { recursive: true });
  await writeFile(join(files, "home", "bob", "notes"), "n\n");
  for (const kind of ["initramfs", "squashfs", "ext4"] as const) {
    const built = await buildImage(
      {
        name: `owned-${kind}`,
        kind,
        compression: kind === "ext4" ? "none" : "gzip",
        layers: [
          { dir: first, label: "a" },
          { dir: later, label: "b" },
        ],
        files: { dir: files },
      },
      { storeDir: join(work, "store-owned") },
    );
    const found = inImage(built, ["home/bob", "home/bob/.profile"]);
    assert.deepEqual(found.get("home/bob"), [0o700, 1001, 1001], `${kind}: bob's home stays his`);
    assert.deepEqual(found.get("home/bob/.profile"), [0o644, 0, 0], `${kind}: what b made is root's`);
    // A later chroot step that gives it to root chose root: the folder is root's again.
    const taken = await buildImage(
      {
        name: `owned-back-${kind}`,
        kind,
        compression: kind === "ext4" ? "none" : "gzip",
        layers: [
          { dir: first, label: "a" },
          { dir: later, label: "c", ownersChosen: true },
        ],
      },
      { storeDir: join(work, "store-owned") },
    );
    assert.deepEqual(inImage(taken, ["home/bob"]).get("home/bob"), [0o700, 0, 0], `${kind}: taken back`);
  }
});

test("an ext4 image holds a device whose minor needs more than 16 bits, as a loop mount would show it", async () => {
  const dir = join(work, "big-minor");
  await mkdir(join(dir, "etc"), { recursive: true });
  await writeFile(join(dir, "etc", "x"), "x\n");
  const built = await buildImage(
    {
      name: "big-minor",
      kind: "ext4",
      compression: "none",
      layers: [{ dir, label: "t" }],
      devices: [
        { path: "/dev/big", type: "char", major: 10, minor: 70000, mode: 0o600, uid: 0, gid: 0 },
        { path: "/dev/top", type: "block", major: 4095, minor: 1048575, mode: 0o660, uid: 0, gid: 6 },
        { path: "/dev/small", type: "char", major: 4, minor: 64, mode: 0o620, uid: 0, gid: 5 },
      ],
    },
    { storeDir: join(work, "store-big-minor") },
  );
  const numbers = (path: string) =>
    /Device major\/minor number: (\S+)/.exec(
      execFileSync("debugfs", ["-R", `stat ${path}`, built.path], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      }),
    )?.[1];
  assert.equal(numbers("/dev/big"), "10:70000");
  assert.equal(numbers("/dev/top"), "4095:1048575");
  assert.equal(numbers("/dev/small"), "04:64");
  assert.deepEqual(inImage(built, ["dev/big", "dev/top"]).get("dev/top"), [0o660, 0, 6]);
});

test("an ext4 image refuses a name with a carriage return before mke2fs, naming it; other control characters go in", async () => {
  const dir = join(work, "control-names");
  await mkdir(join(dir, "etc"), { recursive: true });
  await writeFile(join(dir, "etc", "cr\rx"), "1\n");
  await writeFile(join(dir, "tab\tand\u001bescape"), "2\n");
  const image = (kind: ImageSpec["kind"]) =>
    buildImage(
      {
        name: `names-${kind}`,
        kind,
        compression: kind === "ext4" ? "none" : "gzip",
        layers: [{ dir, label: "n" }],
      },
      { storeDir: join(work, "store-names") },
    );
  await assert.rejects(image("ext4"), (error: unknown) => {
    assert.ok(error instanceof RootstockError, String(error));
    assert.equal(error.code, "ERR_IMAGE_UNSUPPORTED_FILE");
    assert.equal(
      error.message,
      'image names-ext4: its contents hold the file name "/etc/cr\\rx", with a carriage return (\\r), which debugfs cannot read in a name, so an ext4 image cannot carry it',
    );
    return true;
  });
  await image("squashfs");
  await rm(join(dir, "etc", "cr\rx"));
  const built = await image("ext4");
  assert.deepEqual(inImage(built, ["tab\tand\u001bescape"]).get("tab\tand\u001bescape"), [0o644, 0, 0]);
});

test("what the store's file system reports is not in an image: folder link counts, ext4's count of bytes written", async () => {
  const dir = join(work, "links");
  await mkdir(join(dir, "d", "a"), { recursive: true });
  await mkdir(join(dir, "d", "b"), { recursive: true });
  await writeFile(join(dir, "d", "f"), "f\n");
  const image = (kind: ImageSpec["kind"]) =>
    buildImage(
      {
        name: `links-${kind}`,
        kind,
        compression: kind === "ext4" ? "none" : "gzip",
        layers: [{ dir, label: "l" }],
      },
      { storeDir: join(work, "store-links") },
    );
  // btrfs says 1 for every folder; an initramfs says what ext4 keeps: 2, and 1 for each subfolder (. holds d and dev).
  const entries = readNewc(gunzipSync(await readFile((await image("initramfs")).path)));
  const links = new Map(entries.map((entry) => [entry.name, entry.nlink]));
  assert.deepEqual([links.get("."), links.get("d"), links.get("d/a"), links.get("d/f")], [4, 4, 2, 1]);
  // mke2fs writes more where the store cannot punch holes (ramfs), and records how much.
  const header = execFileSync("dumpe2fs", ["-h", (await image("ext4")).path], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  });
  assert.doesNotMatch(header, /Lifetime writes/);
});

test("an image takes its modes from the layer's store manifest, not from what a rootless commit opened on disk", async () => {
  const dir = join(work, "closed", "out");
  await mkdir(join(dir, "d0311"), { recursive: true });
  await mkdir(join(dir, "d0000"), { recursive: true });
  await writeFile(join(dir, "d0311", "in"), "y\n");
  await writeFile(join(dir, "d0000", "in"), "x\n");
  await writeFile(join(dir, "f0000"), "a\n");
  await writeFile(join(dir, "f0111"), "c\n");
  const modes: Record<string, number> = { d0311: 0o311, d0000: 0o000, f0000: 0o000, f0111: 0o4111 };
  for (const [name, mode] of Object.entries(modes)) await chmod(join(dir, name), mode);
  const manifest = join(work, "closed", "manifest.json");
  await writeFile(manifest, JSON.stringify(await computeManifest(dir)));
  // What a commit by a user leaves on disk: owner read, and search for folders.
  for (const [name, mode] of Object.entries(modes))
    await chmod(join(dir, name), mode | (name.startsWith("d") ? 0o500 : 0o400));
  for (const kind of ["initramfs", "squashfs", "ext4"] as const) {
    const built = await buildImage(
      {
        name: `closed-${kind}`,
        kind,
        compression: kind === "ext4" ? "none" : "gzip",
        layers: [{ dir, label: "m", manifest }],
      },
      { storeDir: join(work, "store-closed") },
    );
    const found = inImage(built, Object.keys(modes));
    for (const [name, mode] of Object.entries(modes))
      assert.equal(found.get(name)?.[0]?.toString(8), mode.toString(8), `${kind}: ${name}`);
  }
});
