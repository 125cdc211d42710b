/** rootstock's own version and folder, from its package.json. */
const { readFileSync } = process.getBuiltinModule("node:fs");
const { join } = process.getBuiltinModule("node:path");

export const ROOTSTOCK_DIR = join(import.meta.dirname, "..");

export const ROOTSTOCK_VERSION = (
  JSON.parse(readFileSync(join(ROOTSTOCK_DIR, "package.json"), "utf8")) as { version: string }
).version;
