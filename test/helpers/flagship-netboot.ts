/**
 * The flagship plan with a netboot system image, for the netboot tests and bench. The plan itself gets
 * one (a squashfs `[images.system]` with a `[netboot]` table, and CONFIG_TMPFS_XATTR=y in the kernel);
 * until then this makes a copy of it with those changes, and with a test module for the RAM root, in
 * a folder the caller removes. Once the plan has a netboot image, the plan is used as it is.
 */
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadPlan } from "../../src/plan/load.ts";

export const FLAGSHIP = join(import.meta.dirname, "..", "..", "plans", "tiny-linux");

export interface FlagshipNetboot {
  /** The plan folder. */
  dir: string;
  /** Removes the copy, if one was made. */
  remove(): Promise<void>;
}

export async function flagshipNetboot(): Promise<FlagshipNetboot> {
  const plan = await loadPlan(FLAGSHIP);
  if ([...plan.images.values()].some((image) => image.netboot !== undefined)) {
    return { dir: FLAGSHIP, remove: async () => {} };
  }
  const work = await mkdtemp(join(tmpdir(), "rootstock-flagship-netboot-"));
  const dir = join(work, "tiny-linux");
  await cp(FLAGSHIP, dir, { recursive: true });
  const config = join(dir, "steps", "linux", "files", "tiny-linux.config");
  const text = await readFile(config, "utf8");
  if (!text.includes("CONFIG_TMPFS_XATTR=y")) {
    await writeFile(config, text.replace("CONFIG_TMPFS=y\n", "CONFIG_TMPFS=y\nCONFIG_TMPFS_XATTR=y\n"));
  }
  const contents = plan.images.get("initramfs")?.contents ?? [];
  await writeFile(
    join(dir, "plan.toml"),
    `${await readFile(join(dir, "plan.toml"), "utf8")}
[images.system]
kind = "squashfs"
description = "The same system, booted into RAM over the network"
contents = ${JSON.stringify(contents)}

[images.system.netboot]
busybox = { step = "busybox" }
init = "/sbin/init"
prompt = "tiny-linux:[^ ]*# $"
timeout = "60s"
tests = ["tests/netboot.test.ts"]
`,
  );
  await mkdir(join(dir, "tests"), { recursive: true });
  await writeFile(
    join(dir, "tests", "netboot.test.ts"),
    `import type { TestModule } from "rootstock/check";

export default {
  async "boots into RAM with its root on an overlay"(machine) {
    await machine.waitForConsole(/tiny-linux: up, root on overlay/);
    await machine.succeed("grep -q '^rootstock-root / overlay ' /proc/mounts");
  },
  async "the root is writable, and a folder of the image can be removed"(machine) {
    await machine.succeed("echo hello >/root/new && grep -q hello /root/new");
    await machine.succeed("rm -r /etc/init.d && test ! -e /etc/init.d");
  },
  async "the system can build software"(machine) {
    await machine.succeed("printf 'int main(void) { return 42; }\\\\n' >/tmp/t.c && tcc -o /tmp/t /tmp/t.c");
    const result = await machine.execute("/tmp/t");
    if (result.status !== 42) throw new Error(\`expected exit status 42, got \${result.status}\`);
  },
} satisfies TestModule;
`,
  );
  return { dir, remove: () => rm(work, { recursive: true, force: true }) };
}
