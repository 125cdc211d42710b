#!/usr/bin/env node
// rootstock is TypeScript run by Node's type stripping (22.18+). On an older Node, re-run on the Node
// that npm installed with the project, so the machine's own Node version does not matter.
// Built-in modules are taken as they are needed: an `import` of one costs start-up time (see
// docs/engine.md), and the old-Node path below needs what the fast path does not.
const [major, minor] = process.versions.node.split(".").map(Number);
if (major > 22 || (major === 22 && minor >= 18)) {
  // Keeps compiled (and type-stripped) modules between runs: a no-op run is mostly startup.
  process.getBuiltinModule("node:module").enableCompileCache?.();
  // Started by the older Node below: a kill -9 of that one must not leave this one running (and holding
  // its locks). It ends as on SIGTERM when its parent is gone, silently: the terminal is the shell's
  // again, and what it would say as it ends would land on the prompt.
  const parent = Number(process.env.ROOTSTOCK_PARENT_PID);
  if (parent > 0) {
    setInterval(() => {
      if (process.ppid === parent) return;
      for (const stream of [process.stdout, process.stderr]) stream.write = () => true;
      process.kill(process.pid, "SIGTERM");
    }, 500).unref();
  }
  const { main } = await import("../src/cli/main.ts");
  // Ended here, not when the event loop empties: all of rootstock's own work is done when main returns,
  // and a timer a plan's test module left running must not keep the command alive.
  process.exit(await main(process.argv.slice(2)));
} else {
  const { createRequire } = await import("node:module");
  const { spawn } = await import("node:child_process");
  const { fileURLToPath } = await import("node:url");
  let bundled;
  try {
    bundled = createRequire(import.meta.url).resolve("node/bin/node");
  } catch {
    process.stderr.write(
      `error: rootstock needs Node 22.18 or later (this is ${process.version}) [ERR_NODE_TOO_OLD]\n  hint: run \`npm install\` in the rootstock folder; it installs a current Node for rootstock\n`,
    );
    process.exit(1);
  }
  const child = spawn(bundled, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: "inherit",
    env: { ...process.env, ROOTSTOCK_PARENT_PID: String(process.pid) },
  });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal));
  child.on("exit", (code, signal) => (signal ? process.kill(process.pid, signal) : process.exit(code ?? 1)));
}
