import { RootstockError } from "../errors.ts";

const { homedir, userInfo } = process.getBuiltinModule("node:os");
const { isAbsolute, join, resolve } = process.getBuiltinModule("node:path");

/**
 * Where rootstock keeps sources, step outputs, images and runs: `--store`, then $ROOTSTOCK_STORE, then
 * $XDG_CACHE_HOME/rootstock, then ~/.cache/rootstock.
 */
export function storeLocation(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  // An empty --store is refused by the command line, not taken as no flag.
  if (flag !== undefined) return flag === "" ? "" : resolve(flag);
  if (env.ROOTSTOCK_STORE) return resolve(env.ROOTSTOCK_STORE);
  const cache = env.XDG_CACHE_HOME?.startsWith("/") ? env.XDG_CACHE_HOME : join(home(), ".cache");
  return join(cache, "rootstock");
}

/** $HOME, or the user's home folder when $HOME is empty or relative: a store must not follow the cwd. */
function home(): string {
  const fromEnv = homedir();
  if (isAbsolute(fromEnv)) return fromEnv;
  try {
    const { homedir: fromPasswd } = userInfo();
    if (isAbsolute(fromPasswd)) return fromPasswd;
  } catch {
    // No entry for this user: nothing to fall back on.
  }
  throw new RootstockError(
    "ERR_STORE_NO_HOME",
    `cannot tell where the store goes: $HOME is ${fromEnv === "" ? "empty" : `relative (${fromEnv})`} and this user has no home folder`,
    { hint: "give the store with --store DIR or $ROOTSTOCK_STORE" },
  );
}
