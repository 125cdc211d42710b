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
  // Installed as a copy under node_modules (`npm install -g` of a tarball, a dependency), where Node does not
  // strip types: rootstock strips its own sources' types itself as it loads them.
  const root = new URL("../", import.meta.url);
  if (root.pathname.includes("/node_modules/")) {
    const { registerHooks, stripTypeScriptTypes } = process.getBuiltinModule("node:module");
    const { readFileSync } = process.getBuiltinModule("node:fs");
    const ownSources = (url) =>
      url.startsWith(root.href) &&
      url.endsWith(".ts") &&
      !url.slice(root.href.length).includes("node_modules/");
    // Its one "experimental" warning would land on every command's output.
    const emitWarning = process.emitWarning;
    process.emitWarning = () => {};
    stripTypeScriptTypes("");
    process.emitWarning = emitWarning;
    registerHooks({
      load(url, context, nextLoad) {
        if (!ownSources(url)) return nextLoad(url, context);
        const source = stripTypeScriptTypes(readFileSync(new URL(url), "utf8"));
        return { format: "module", source, shortCircuit: true };
      },
    });
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
  const forwarded = ["SIGINT", "SIGTERM", "SIGHUP"];
  for (const signal of forwarded) process.on(signal, () => child.kill(signal));
  child.on("exit", (code, signal) => {
    if (code !== null) process.exit(code);
    // Ended by a signal: this one ends by it too, as a shell expects (130 for Ctrl-C), not caught by the
    // forwarding above; 128 + its number should the signal not end it.
    for (const name of forwarded) process.removeAllListeners(name);
    process.kill(process.pid, signal);
    process.exit(128 + (process.getBuiltinModule("node:os").constants.signals[signal] ?? 0));
  });
}
