import assert from "node:assert/strict";
import { test } from "node:test";
import { LIFELINE, type SandboxSpec, sandboxCommand } from "./sandbox.ts";

const spec = (kind: SandboxSpec["kind"]): SandboxSpec => ({
  kind,
  root: [
    { name: "usr", from: "/usr" },
    { name: "bin", symlink: "usr/bin" },
    { name: "proc", from: "/should-not-be-mounted" },
  ],
  binds: [
    { from: "/w/build", to: "/build", writable: true },
    { from: "/w/build/sources", to: "/build/sources" },
  ],
  env: { PATH: "/usr/bin:/bin" },
  cwd: "/build",
  chrootDir: "/w/chroot",
});

test("every kind runs in a PID namespace of its own (the lifeline's kill -1 relies on it)", () => {
  const bwrap = sandboxCommand(spec("bwrap"), ["make"], { lifeline: true, isRoot: true });
  assert.equal(bwrap.file, "bwrap");
  assert.ok(bwrap.args.includes("--unshare-all") && bwrap.args.includes("--die-with-parent"));
  const host = sandboxCommand(spec("host"), ["make"], { lifeline: true, isRoot: true });
  assert.ok(host.args.includes("--unshare-pid") && host.args.includes("--die-with-parent"));
  const chroot = sandboxCommand(spec("chroot"), ["make"], { lifeline: true, isRoot: true });
  assert.deepEqual(chroot.args.slice(0, 6), [
    "--pdeathsig",
    "KILL",
    "--",
    "/usr/bin/unshare",
    "--mount",
    "--pid",
  ]);
  for (const command of [bwrap, host, chroot]) {
    const at = command.args.indexOf(LIFELINE);
    assert.ok(at > 0, `${command.file}: the lifeline wraps the command`);
    assert.deepEqual(command.args.slice(at + 1), ["rootstock-lifeline", "make"]);
  }
});

test("bwrap: the root's entries read-only, the sandbox's own names skipped, binds in order, root made read-only", () => {
  const { args, env } = sandboxCommand(spec("bwrap"), ["make"], { isRoot: false });
  const text = args.join(" ");
  assert.match(text, /--unshare-user --uid 0 --gid 0/, "rootless: root of a user namespace");
  assert.match(text, /--ro-bind \/usr \/usr --symlink usr\/bin \/bin --proc \/proc --dev \/dev/);
  assert.doesNotMatch(text, /should-not-be-mounted/);
  assert.match(
    text,
    /--bind \/w\/build \/build --ro-bind \/w\/build\/sources \/build\/sources --remount-ro \/ --chdir \/build -- make$/,
  );
  assert.deepEqual(env, { PATH: "/usr/bin:/bin" });
});

test("an interactive shell keeps its terminal: no new session, no lifeline", () => {
  const { args } = sandboxCommand(spec("bwrap"), ["/bin/sh", "-i"], { interactive: true, isRoot: true });
  assert.ok(!args.includes("--new-session"));
  assert.ok(!args.includes(LIFELINE));
});
