/**
 * What a sandboxed step can and cannot reach: no network, no /home or /root, nothing writable outside its
 * output, build and /tmp; a root made only of dependency outputs; a dependency mounted at /serpent (bwrap
 * and chroot); `rootstock shell` in a failed build; an unprivileged user building with bwrap.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { networkInterfaces } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { runPlan } from "../src/build/run-plan.ts";
import type { RootstockEvent } from "../src/events.ts";
import { SourceStore } from "../src/sources/source-store.ts";
import {
  admit,
  makeTarball,
  resolve,
  sourceToml,
  type Workbench,
  workbench,
  writePlan,
} from "./helpers/fixture-plan.ts";
import { finished, rootstock, startRootstock, untilOutput } from "./helpers/rootstock-process.ts";

let bench: Workbench;
let server: Server;
let requests = 0;
let port = 0;
before(async () => {
  bench = await workbench();
  server = createServer((_request, response) => {
    requests++;
    response.end("reached\n");
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  port = (server.address() as AddressInfo).port;
});
after(async () => {
  server.close();
  await bench.remove();
});

const isRoot = process.getuid?.() === 0;
const externalAddress = Object.values(networkInterfaces())
  .flat()
  .find((address) => address && address.family === "IPv4" && !address.internal)?.address;

/** Runs a plan two steps at a time, past failures, keeping its events. */
async function runKeepingGoing(planDir: string) {
  const events: RootstockEvent[] = [];
  const result = await runPlan(await resolve(planDir), {
    storeDir: bench.storeDir,
    jobs: 2,
    keepGoing: true,
    emit: (event) => events.push(event),
  });
  return { result, events };
}

function failures(events: RootstockEvent[]): Record<string, string[]> {
  const result: Record<string, string[]> = {};
  for (const event of events) if (event.type === "step:failed") result[event.step] = event.tail;
  return result;
}

test("hermeticity: no network, no /home or /root, nothing writable outside output, build and /tmp", async () => {
  const probe = (command: string) => ({ script: `do_compile() { ${command}; }\n` });
  const hostSecret = join(bench.dir, "host-secret");
  await writeFile(hostSecret, "secret\n");
  // An HTTP GET by bash alone (its /dev/tcp), so that the probe needs no other tool.
  const http = (host: string) =>
    `bash -c 'exec 3<>/dev/tcp/${host}/${port} && printf "GET / HTTP/1.0\\r\\n\\r\\n" >&3 && cat <&3'`;
  const planDir = await writePlan(join(bench.dir, "hermetic"), {
    name: "hermetic",
    toml: '[host]\ntools = ["sh", "bash"]\n',
    steps: {
      // Controls: the probes work where nothing stops them.
      "control-host": {
        toml: 'version = "1"\nsandbox = "host"\n',
        script: `do_compile() { ${http("127.0.0.1")} > "$OUT/fetched"; ls /root > /dev/null; }\n`,
      },
      "control-sandbox": probe(
        'echo ok > "$OUT/out"; echo ok > /tmp/t; echo ok > "$BUILD/b"; echo ok > "$SRC/s"',
      ),
      // Even a host step cannot change the entries of the store it reads its dependencies from.
      "write-dep-from-host": {
        toml: 'version = "1"\nsandbox = "host"\ndeps = ["control-sandbox"]\n',
        script: 'do_compile() { echo changed > "$DEP_CONTROL_SANDBOX/out"; }\n',
      },
      "net-loopback": probe(http("127.0.0.1")),
      // chroot's own loopback is up as bwrap's is: refused (nothing listens), not unreachable.
      ...(isRoot
        ? {
            "net-loopback-chroot": {
              toml: 'version = "1"\nsandbox = "chroot"\n',
              script: `do_compile() { ${http("127.0.0.1")}; }\n`,
            },
            // Its PID 1 is inside the root too: /proc/1/root leads to the root, not to the host's /.
            "read-host-chroot": {
              toml: 'version = "1"\nsandbox = "chroot"\n',
              script: `do_compile() { cat /proc/1/root${hostSecret}; }\n`,
            },
          }
        : {}),
      ...(externalAddress ? { "net-external": probe(http(externalAddress)) } : {}),
      "read-home": probe("ls /home"),
      "read-root": probe("ls /root"),
      "write-usr": probe("touch /usr/rootstock-probe"),
      "write-root": probe("touch /rootstock-probe"),
      "write-etc": probe("touch /etc/rootstock-probe"),
      "write-sources": probe("touch /build/sources/rootstock-probe"),
      "write-files": probe("touch /build/files/rootstock-probe"),
      // Root's powers would let a step make its read-only mounts writable again: it has none.
      "remount-usr": probe("mount -o remount,bind,rw /usr && touch /usr/rootstock-probe"),
      "remount-sources": probe(
        "mount -o remount,bind,rw /build/sources && touch /build/sources/rootstock-probe",
      ),
      "remount-dep": {
        toml: 'version = "1"\ndeps = ["control-sandbox"]\n',
        script:
          'do_compile() { mount -o remount,bind,rw "$DEP_CONTROL_SANDBOX" && echo changed > "$DEP_CONTROL_SANDBOX/out"; }\n',
      },
    },
  });
  const { result, events } = await runKeepingGoing(planDir);
  const expectedFailures = [
    "write-dep-from-host",
    "net-loopback",
    ...(isRoot ? ["net-loopback-chroot", "read-host-chroot"] : []),
    ...(externalAddress ? ["net-external"] : []),
    "read-home",
    "read-root",
    "write-usr",
    "write-root",
    "write-etc",
    "write-sources",
    "write-files",
    "remount-usr",
    "remount-sources",
    "remount-dep",
  ].sort();
  assert.deepEqual([...result.failed].sort(), expectedFailures);
  assert.deepEqual([...result.built].sort(), ["control-host", "control-sandbox"]);
  assert.equal(requests, 1, "only the host step reached the server");
  const tails = failures(events);
  assert.ok(tails["write-usr"]?.some((line) => /Read-only file system/.test(line)));
  assert.ok(tails["read-home"]?.some((line) => /No such file or directory/.test(line)));
  assert.ok(
    tails["net-loopback"]?.some((line) => /Connection refused/.test(line)),
    tails["net-loopback"]?.join("\n") ?? "no tail",
  );
  if (isRoot) {
    assert.ok(
      tails["net-loopback-chroot"]?.some((line) => /Connection refused/.test(line)),
      tails["net-loopback-chroot"]?.join("\n") ?? "no tail",
    );
    assert.ok(
      tails["read-host-chroot"]?.some((line) => /No such file or directory/.test(line)),
      tails["read-host-chroot"]?.join("\n") ?? "no tail",
    );
  }
  if (externalAddress) assert.ok(tails["net-external"]?.some((line) => /Network is unreachable/.test(line)));
  assert.match(
    await readFile(join(result.outputs.get("control-host")?.path as string, "fetched"), "utf8"),
    /reached/,
  );
  await assert.rejects(stat("/usr/rootstock-probe"));
  for (const step of ["remount-usr", "remount-sources", "remount-dep"])
    assert.ok(
      tails[step]?.some((line) => /permission denied|Operation not permitted/i.test(line)),
      `${step}: ${tails[step]?.join("\n") ?? "no tail"}`,
    );
  assert.ok(tails["write-dep-from-host"]?.some((line) => /Read-only file system/.test(line)));
  assert.equal(
    await readFile(join(result.outputs.get("control-sandbox")?.path as string, "out"), "utf8"),
    "ok\n",
  );
});

test("a root made only of dependency outputs, with a dependency mounted at /serpent (bwrap and chroot)", async () => {
  const system = (sandbox: string) => ({
    toml: `version = "1"\nsandbox = "${sandbox}"\nroot = "deps"\ndeps = ["seed", "greet"]\nmounts = [{ step = "greet", at = "/serpent" }]\n[env]\nPATH = "/bin:/usr/bin"\n`,
    script: [
      "do_install() {",
      '  mkdir -p "$OUT/report"',
      '  ls / > "$OUT/report/root"',
      '  if [ -e /usr/bin/gcc ] || [ -e /lib64 ]; then echo "host tools visible" >&2; exit 1; fi',
      '  greet > "$OUT/report/greeting"',
      '  /serpent/usr/bin/greet >> "$OUT/report/greeting"',
      '  echo "$DEP_SEED $DEP_GREET" > "$OUT/report/deps"',
      "}",
      "",
    ].join("\n"),
  });
  const planDir = await writePlan(join(bench.dir, "deps-root"), {
    name: "deps-root",
    toml: '[host]\ntools = ["sh", "gcc", "busybox"]\n',
    stages: [
      ["seed", "greet"],
      ["system", ...(isRoot ? ["system-chroot"] : [])],
    ],
    steps: {
      seed: {
        script: [
          "do_install() {",
          '  mkdir -p "$OUT/bin"',
          '  cp "$(command -v busybox)" "$OUT/bin/busybox"',
          '  for applet in sh ls echo cat mkdir; do ln -s busybox "$OUT/bin/$applet"; done',
          "}",
          "",
        ].join("\n"),
      },
      greet: {
        files: {
          "greet.c": '#include <stdio.h>\nint main(void) { puts("greetings from stage 1"); return 0; }\n',
        },
        script:
          'do_compile() { gcc -static -O2 -o greet "$FILES/greet.c"; }\ndo_install() { mkdir -p "$OUT/usr/bin"; cp greet "$OUT/usr/bin/"; }\n',
      },
      system: system("bwrap"),
      ...(isRoot ? { "system-chroot": system("chroot") } : {}),
    },
  });
  const events: RootstockEvent[] = [];
  const result = await runPlan(await resolve(planDir), {
    storeDir: bench.storeDir,
    jobs: 2,
    emit: (event) => events.push(event),
  });
  assert.equal(result.ok, true, JSON.stringify(failures(events)));
  for (const name of ["system", ...(isRoot ? ["system-chroot"] : [])]) {
    const report = join(result.outputs.get(name)?.path as string, "report");
    assert.deepEqual(
      (await readFile(join(report, "root"), "utf8")).trim().split("\n"),
      ["bin", "build", "deps", "dev", "out", "proc", "serpent", "tmp", "usr"],
      `${name}: the root holds the deps' outputs and the sandbox's own folders, nothing of the host`,
    );
    assert.equal(
      await readFile(join(report, "greeting"), "utf8"),
      "greetings from stage 1\ngreetings from stage 1\n",
    );
    assert.equal(await readFile(join(report, "deps"), "utf8"), "/deps/seed /deps/greet\n");
  }
});

test("a mount the root made of deps cannot take is refused, not a crash or a script that cannot start", async () => {
  // Where the host's dash finds its loader (/lib64 on x86_64 Debian): the folder a mount must not hide.
  const loaderFolder = dirname(
    execFileSync("sh", ["-c", "readelf -l /bin/dash | sed -n 's/.*interpreter: \\(.*\\)]/\\1/p'"], {
      encoding: "utf8",
    }).trim(),
  );
  const bad = (at: string) => ({
    toml: `version = "1"\nroot = "deps"\nretries = 2\ndeps = ["seed", "greet"]\nmounts = [{ step = "greet", at = "${at}" }]\n`,
    script: 'do_install() { touch "$OUT/x"; }\n',
  });
  const planDir = await writePlan(join(bench.dir, "deps-root-mounts"), {
    name: "deps-root-mounts",
    toml: '[host]\ntools = ["sh", "busybox"]\n',
    stages: [
      ["seed", "greet", "dynamic-seed"],
      ["on-file", "on-bin", "on-loader"],
    ],
    steps: {
      seed: {
        script:
          'do_install() { mkdir -p "$OUT/bin"; cp "$(command -v busybox)" "$OUT/bin/busybox"; ln -s busybox "$OUT/bin/sh"; }\n',
      },
      // The host's dash: a shell linked dynamically, whose loader a mount could hide.
      "dynamic-seed": { script: 'do_install() { mkdir -p "$OUT/bin"; cp /bin/dash "$OUT/bin/sh"; }\n' },
      "on-loader": {
        toml: `version = "1"\nroot = "deps"\ndeps = ["dynamic-seed", "greet"]\nmounts = [{ step = "greet", at = "${loaderFolder}" }]\n`,
        script: 'do_install() { touch "$OUT/x"; }\n',
      },
      greet: { script: 'do_install() { mkdir -p "$OUT/usr/bin"; echo hi > "$OUT/usr/bin/greet"; }\n' },
      "on-file": bad("/usr/bin/greet"),
      "on-bin": bad("/bin"),
    },
  });
  const { result, events } = await runKeepingGoing(planDir);
  assert.deepEqual([...result.failed].sort(), ["on-bin", "on-file", "on-loader"]);
  const reasons = Object.fromEntries(
    events.flatMap((event) => (event.type === "step:failed" ? [[event.step, event.reason]] : [])),
  );
  assert.match(
    reasons["on-file"] ?? "",
    /at \/usr\/bin\/greet, where the root its deps make has a file at \/usr\/bin\/greet/,
  );
  assert.match(reasons["on-bin"] ?? "", /at \/bin, which would hide \/bin\/sh in the root/);
  assert.match(reasons["on-loader"] ?? "", /, which would hide \S+, which \/bin\/sh needs,/);
  assert.equal(
    events.filter((event) => event.type === "step:attempt-failed" && event.retrying).length,
    0,
    "a mistake in the plan is not retried",
  );
  assert.ok(!events.some((event) => event.type === "step:failed" && /internal error/.test(event.reason)));
  assert.ok(
    events.every((event) => event.type !== "step:failed" || event.noSandbox),
    "no sandbox was made, so rootstock shell is not offered",
  );
});

test("rootstock shell enters a failed step's build folder, sandbox and environment", async () => {
  const planDir = await writePlan(join(bench.dir, "shell"), {
    name: "shell",
    steps: {
      dep: { script: 'do_install() { echo from-dep > "$OUT/marker"; }\n' },
      broken: {
        toml: 'version = "1"\ndeps = ["dep"]\n[env]\nFLAVOUR = "vanilla"\n',
        script:
          'do_configure() { echo configured > state; }\ndo_compile() { echo "no compiler today" >&2; exit 2; }\n',
      },
      fine: { script: 'do_install() { touch "$OUT/ok"; }\n' },
    },
  });
  const store = ["--store", bench.storeDir];
  const run = await rootstock([...store, "run", planDir, "-k"]);
  assert.equal(run.code, 1);

  const shell = await rootstock([
    ...store,
    "shell",
    planDir,
    "broken",
    "-c",
    'pwd; cat state; echo "$FLAVOUR $ROOTSTOCK_STEP"; cat "$DEP_DEP/marker"; type do_compile | head -1; do_configure && cat state',
  ]);
  assert.equal(shell.code, 0, shell.stderr);
  assert.match(
    shell.stdout,
    /^\/build\nconfigured\nvanilla broken\nfrom-dep\ndo_compile is a (shell )?function\nconfigured\n$/,
  );

  // Driven through its standard input, as a person would type.
  const typed = await rootstock([...store, "shell", planDir, "broken"], { input: "ls /\nexit 7\n" });
  assert.equal(typed.code, 7);
  assert.match(typed.stdout, /build\n[\s\S]*out\n/);
  assert.match(typed.stderr, /entering broken's failed build/);

  const notFailed = await rootstock([...store, "shell", planDir, "fine"]);
  assert.equal(notFailed.code, 1);
  assert.match(notFailed.stderr, /step "fine" did not fail[\s\S]*ERR_SHELL_NO_BUILD/);

  const log = await rootstock([...store, "log", planDir, "broken"]);
  assert.equal(log.code, 0);
  assert.match(log.stdout, /no compiler today/);
});

test("a failed build folder a shell works in is left alone by a later run and by gc, its /deps too", async () => {
  const planDir = await writePlan(join(bench.dir, "shell-kept"), {
    name: "shell-kept",
    steps: {
      lib: { script: 'do_install() { echo hello > "$OUT/hello"; }\n' },
      flaky: {
        toml: 'version = "1"\ndeps = ["lib"]\n',
        script: "do_install() { [ -e /build/../never ] || exit 9; }\n",
      },
    },
  });
  const store = ["--store", bench.storeDir];
  assert.equal((await rootstock([...store, "run", planDir])).code, 1);
  // The shell writes a file, waits for the file (made from outside) that says the run and gc are over,
  // then reads its own back.
  const shell = startRootstock([
    ...store,
    "shell",
    planDir,
    "flaky",
    "-c",
    // At most 60 s: a folder removed under it would leave it waiting for good.
    "echo mine > mine.txt; echo ready; i=0; while [ ! -e over ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done; cat mine.txt /deps/lib/hello",
  ]);
  const shellEnded = finished(shell);
  await untilOutput(shell, "ready");
  assert.equal(
    (await rootstock([...store, "run", planDir])).code,
    1,
    "it fails again, in a folder of its own",
  );
  assert.equal((await rootstock([...store, "gc", "--keep-runs", "0", "--keep-days", "0"])).code, 0);
  const kept = execFileSync("find", [join(bench.storeDir, "work"), "-name", "mine.txt"], {
    encoding: "utf8",
  });
  assert.equal(kept.trim().split("\n").length, 1, kept);
  await writeFile(join(dirname(kept.trim()), "over"), "");
  const ended = await shellEnded;
  assert.equal(ended.code, 0, ended.stderr);
  assert.match(ended.stdout, /ready\nmine\nhello\n$/);
});

test("a host step that removes $OUT or puts a file or a link in its place fails, and commits nothing", async () => {
  const target = join(bench.dir, "out-target");
  const planDir = await writePlan(join(bench.dir, "out-replaced"), {
    name: "out-replaced",
    steps: {
      gone: { toml: 'version = "1"\nsandbox = "host"\n', script: 'do_install() { rm -rf "$OUT"; }\n' },
      file: {
        toml: 'version = "1"\nsandbox = "host"\n',
        script: 'do_install() { rm -rf "$OUT"; echo file > "$OUT"; }\n',
      },
      link: {
        toml: 'version = "1"\nsandbox = "host"\n',
        script: `do_install() { rm -rf "$OUT"; mkdir -p ${target}; ln -s ${target} "$OUT"; }\n`,
      },
    },
  });
  const store = join(bench.dir, "out-replaced-store");
  const run = await rootstock(["--store", store, "run", planDir, "-k"]);
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stdout, /✗ gone failed: step "gone" removed it: \$OUT must stay a folder/);
  assert.match(run.stdout, /✗ file failed: step "file" replaced it with a file: \$OUT must stay a folder/);
  assert.match(run.stdout, /✗ link failed: step "link" replaced it with a link: \$OUT must stay a folder/);
  assert.doesNotMatch(`${run.stdout}${run.stderr}`, /internal error|^\s+at /m);
  const entries = await readdir(join(store, "outputs")).catch(() => []);
  assert.deepEqual(entries, []);
});

test("a host step that writes to its sources changes its copy, never the store's file", async () => {
  const tarball = await makeTarball(bench.dir, "kept.tar.gz", { "a.txt": "a\n" });
  const store = join(bench.dir, "sources-kept-store");
  await admit(store, tarball);
  const planDir = await writePlan(join(bench.dir, "sources-kept"), {
    name: "sources-kept",
    steps: {
      scribble: {
        toml: `version = "1"\nsandbox = "host"\n${sourceToml(tarball, "extract = false\n")}`,
        script: `do_install() { echo scribbled >> "$SOURCES/${tarball.file}"; }\n`,
      },
    },
  });
  const run = await rootstock(["--store", store, "run", planDir]);
  assert.equal(run.code, 0, run.stderr);
  const stored = new SourceStore(store).path(tarball.sha256);
  assert.equal(
    createHash("sha256")
      .update(await readFile(stored))
      .digest("hex"),
    tarball.sha256,
  );
});

test("archives unpack in a store whose path has a backslash (tar reads none as an escape)", async () => {
  const tarball = await makeTarball(bench.dir, "slashed.tar.gz", { "a.txt": "a\n" }, { top: "slashed-1" });
  const store = join(bench.dir, "store\\back");
  await admit(store, tarball);
  const planDir = await writePlan(join(bench.dir, "slashed"), {
    name: "slashed",
    steps: {
      a: { toml: `version = "1"\n${sourceToml(tarball)}`, script: 'do_install() { cp a.txt "$OUT/"; }\n' },
    },
  });
  const run = await rootstock(["--store", store, "run", planDir]);
  assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
});

test("an unprivileged user builds with bwrap (rootless)", {
  skip: !isRoot && "needs root to switch to an unprivileged user",
}, async () => {
  const dir = join(bench.dir, "rootless");
  await mkdir(dir, { recursive: true, mode: 0o777 });
  const { chmod } = await import("node:fs/promises");
  await chmod(dir, 0o777);
  const planDir = await writePlan(join(dir, "plan"), {
    name: "rootless",
    steps: {
      tool: {
        files: { "t.c": "int main(void) { return 0; }\n" },
        script:
          'do_compile() { gcc -o t "$FILES/t.c"; }\ndo_install() { mkdir -p "$OUT/bin"; cp t "$OUT/bin/"; id -u > "$OUT/uid"; ln -s t "$OUT/bin/link"; }\n',
      },
    },
  });
  await chmod(join(dir, "plan"), 0o755);
  const result = await rootstock(["--store", join(dir, "store"), "run", planDir], {
    command: ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", process.execPath],
    env: { HOME: dir },
  });
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const graph = await resolve(planDir);
  const out = join(dir, "store", "outputs", graph.byName.get("tool")?.key as string, "out");
  assert.equal(await readFile(join(out, "uid"), "utf8"), "0\n", "the step is root in its own user namespace");
  assert.equal((await stat(join(out, "bin", "t"))).uid, 65534, "its files belong to the user on the host");
});

test("a root of dependency outputs whose PATH holds none of the host's folders still starts its sandbox", async () => {
  const planDir = await writePlan(join(bench.dir, "tools-path"), {
    name: "tools-path",
    toml: '[host]\ntools = ["sh", "busybox"]\n',
    steps: {
      seed: {
        script:
          'do_install() { mkdir -p "$OUT/tools/bin" "$OUT/bin"; cp "$(command -v busybox)" "$OUT/tools/bin/"; ln -s busybox "$OUT/tools/bin/mkdir"; ln -s ../tools/bin/busybox "$OUT/bin/sh"; }\n',
      },
      // live-bootstrap's layout: the root's tools in /tools/bin, and only there.
      user: {
        toml: 'version = "1"\ndeps = ["seed"]\nroot = "deps"\n[env]\nPATH = "/tools/bin"\n',
        script: 'do_install() { mkdir -p "$OUT/made"; }\n',
      },
    },
  });
  const result = await runPlan(await resolve(planDir), { storeDir: bench.storeDir, jobs: 1 });
  assert.equal(result.ok, true, JSON.stringify(result.failed));
});
