/** rootstock's own version and folder, from its package.json. */
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const ROOTSTOCK_DIR = join(import.meta.dirname, "..");

export const ROOTSTOCK_VERSION = (
  JSON.parse(readFileSync(join(ROOTSTOCK_DIR, "package.json"), "utf8")) as { version: string }
).version;
