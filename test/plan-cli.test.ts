/** `rootstock plan show` and `plan graph` on the example plan, as a user runs them. */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { runCli, STACK_LINE } from "./helpers/cli.ts";
import { workbench, writePlan } from "./helpers/fixture-plan.ts";

describe("plan show / plan graph on plans/example", () => {
  test("show lists the steps in order, by stage, with keys", async () => {
    const { code, stdout } = await runCli(["plan", "show", "plans/example"]);
    assert.equal(code, 0);
    assert.match(stdout, /^example \(x86_64\): 5 steps in 2 stages/);
    const order = [...stdout.matchAll(/^\s+\d+\s+(\S+)\s.*\b([0-9a-f]{16})\b/gm)].map((match) => match[1]);
    assert.deepEqual(order, ["busybox-seed", "greet", "hello", "base", "system"]);
    assert.match(stdout, /stage 2\/2 system/);
  });

  test("--json gives full keys; keys are stable from run to run", async () => {
    const first = JSON.parse((await runCli(["plan", "show", "--json", "plans/example"])).stdout);
    const second = JSON.parse((await runCli(["plan", "show", "--json", "plans/example"])).stdout);
    assert.equal(first.length, 5);
    for (const item of first) assert.match(item.key, /^[0-9a-f]{64}$/);
    assert.deepEqual(first, second);
  });

  test("--set disables a step by its predicate, and its dependents must follow", async () => {
    // The example's toggle takes hello and the step that mounts it.
    const example = await runCli(["plan", "show", "--set", "WITH_HELLO=false", "plans/example"]);
    assert.equal(example.code, 0, example.stderr);
    assert.match(example.stdout, /^example \(x86_64\): 3 steps in 2 stages/);
    assert.match(
      example.stdout,
      /disabled: hello \(when = "WITH_HELLO"\)\n.*disabled: system \(when = "WITH_HELLO"\)/,
    );
    // --json says the same: a disabled step is listed, keyless, with its predicate.
    const json = JSON.parse(
      (await runCli(["plan", "show", "--json", "--set", "WITH_HELLO=false", "plans/example"])).stdout,
    );
    assert.deepEqual(
      json
        .filter((step: { disabled?: unknown }) => step.disabled)
        .map((step: { name: string; disabled: { when: string } }) => [step.name, step.disabled.when]),
      [
        ["hello", "WITH_HELLO"],
        ["system", "WITH_HELLO"],
      ],
    );
    assert.ok(
      json
        .filter((step: { disabled?: unknown }) => !step.disabled)
        .every((step: { sandbox: string }) => step.sandbox),
    );
    // A dependent that does not follow its disabled dependency is refused.
    const bench = await workbench();
    try {
      const dir = await writePlan(join(bench.dir, "follow"), {
        toml: "[variables]\nWITH_A = true\n",
        steps: {
          a: { toml: 'version = "1"\nwhen = "WITH_A"\n' },
          b: { toml: 'version = "1"\ndeps = ["a"]\n' },
        },
      });
      const { code, stderr } = await runCli(["plan", "show", "--set", "WITH_A=false", dir]);
      assert.equal(code, 1);
      assert.match(
        stderr,
        /step "b" needs "a", which is disabled by when = "WITH_A" \[ERR_PLAN_DEP_DISABLED\]/,
      );
      assert.doesNotMatch(stderr, STACK_LINE);
    } finally {
      await bench.remove();
    }
  });

  test("--set of an unknown variable is refused with a suggestion", async () => {
    const { code, stderr } = await runCli(["plan", "show", "--set", "WITH_HELO=false", "plans/example"]);
    assert.equal(code, 1);
    assert.match(stderr, /--set WITH_HELO: the plan has no variable "WITH_HELO"/);
    assert.match(stderr, /did you mean "WITH_HELLO"/);
  });

  test("--set of a value of the wrong type names the variable's line in plan.toml", async () => {
    const { code, stderr } = await runCli(["plan", "show", "--set", "WITH_HELLO=yes", "plans/example"]);
    assert.equal(code, 1);
    assert.match(
      stderr,
      /plans\/example\/plan\.toml:8: variables\.WITH_HELLO: --set WITH_HELLO=yes: WITH_HELLO is a boolean .*\[ERR_PLAN_BAD_SET\]/,
    );
    assert.match(stderr, /hint: use true or false/);
    assert.doesNotMatch(stderr, STACK_LINE);
  });

  test("graph prints edges by stage, and DOT with --dot", async () => {
    const text = await runCli(["plan", "graph", "plans/example"]);
    assert.equal(text.code, 0);
    assert.match(
      text.stdout,
      /\[system\]\n {2}base <- busybox-seed\n {2}system <- busybox-seed, base, greet, hello {2}\(mounts hello at \/serpent\)/,
    );
    const dot = await runCli(["plan", "graph", "--dot", "plans/example"]);
    assert.match(dot.stdout, /^digraph "example" \{/);
    assert.match(dot.stdout, /"hello" -> "system" \[label="\/serpent", style=bold\];/);
    assert.match(dot.stdout, /subgraph "cluster_1" \{\n {4}label="system";/);
  });

  test("graph shows disabled steps in their stage, and says when nothing is enabled", async () => {
    const bench = await workbench();
    try {
      const dir = await writePlan(join(bench.dir, "plan"), {
        toml: "[variables]\nX = false\n",
        steps: { a: { toml: 'version = "1"\nwhen = "X"\n' }, b: { toml: 'version = "1"\nwhen = "X"\n' } },
      });
      const store = ["--store", bench.storeDir];
      const off = await runCli([...store, "plan", "graph", dir]);
      assert.equal(off.code, 0, off.stderr);
      assert.equal(
        off.stdout,
        '[s1]\n  a  (disabled: when = "X")\n  b  (disabled: when = "X")\nno step is enabled: nothing to build\n',
      );
      const dot = await runCli([...store, "plan", "graph", "--dot", dir]);
      assert.match(dot.stdout, /"a" \[style=dashed, fontcolor=gray, color=gray, tooltip="when = X"\];/);
      const asked = await runCli([...store, "run", dir, "b"]);
      assert.equal(asked.code, 1);
      assert.match(
        asked.stderr,
        /steps\/b\/step\.toml:2: when: step "b" is disabled by when = "X" \[ERR_PLAN_DEP_DISABLED\]/,
      );
      const withOther = await writePlan(join(bench.dir, "plan-with-other"), {
        toml: "[variables]\nX = false\n",
        steps: { c: { toml: 'version = "1"\n' }, d: { toml: 'version = "1"\nwhen = "X"\n' } },
      });
      const dry = await runCli([...store, "run", "--dry-run", withOther, "c"]);
      assert.equal(dry.code, 0, dry.stderr);
      assert.doesNotMatch(dry.stdout, /\bd\b.*skipped/, "a step the targets do not need is not reported");
      assert.match(
        (await runCli([...store, "run", "--dry-run", withOther])).stdout,
        /d skipped: when = "X" is false/,
      );
      const on = await runCli([...store, "plan", "graph", "--set", "X=true", dir]);
      assert.equal(on.stdout, "[s1]\n  a\n  b\nfinal: a, b\n");
    } finally {
      await bench.remove();
    }
  });

  test("files in steps/ (a README, an editor's swap file) are not step folders", async () => {
    const bench = await workbench();
    try {
      const dir = await writePlan(join(bench.dir, "plan"), { steps: { a: { toml: 'version = "1"\n' } } });
      await writeFile(join(dir, "steps", "README.md"), "# the steps\n");
      await writeFile(join(dir, "steps", ".a.swp"), "x");
      const shown = await runCli(["--store", bench.storeDir, "plan", "show", dir]);
      assert.equal(shown.code, 0, shown.stderr);
      assert.match(shown.stdout, /1 step in 1 stage/);
    } finally {
      await bench.remove();
    }
  });

  test("a missing plan folder is a clear error", async () => {
    const { code, stderr } = await runCli(["plan", "show", "plans/nope"]);
    assert.equal(code, 1);
    assert.match(stderr, /plan folder plans\/nope does not exist \[ERR_PLAN_NOT_FOUND\]/);
  });

  test("usage mistakes exit 2 with help, not a stack trace", async () => {
    const { code, stderr } = await runCli(["plan", "show"]);
    assert.equal(code, 2);
    assert.match(stderr, /missing required argument 'plan'/);
  });
});

test("--version prints rootstock's version", async () => {
  const { version } = JSON.parse(await readFile(new URL("../package.json", import.meta.url), "utf8"));
  for (const flag of ["--version", "-V"]) {
    const { code, stdout } = await runCli([flag]);
    assert.equal(code, 0);
    assert.equal(stdout, `${version}\n`);
  }
});
