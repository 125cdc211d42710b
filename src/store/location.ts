const { homedir } = process.getBuiltinModule("node:os");
const { join, resolve } = process.getBuiltinModule("node:path");

/**
 * Where rootstock keeps sources, step outputs, images and runs: `--store`, then $ROOTSTOCK_STORE, then
 * $XDG_CACHE_HOME/rootstock, then ~/.cache/rootstock.
 */
export function storeLocation(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  // An empty --store is refused by the command line, not taken as no flag.
  if (flag !== undefined) return flag === "" ? "" : resolve(flag);
  if (env.ROOTSTOCK_STORE) return resolve(env.ROOTSTOCK_STORE);
  const cache = env.XDG_CACHE_HOME?.startsWith("/") ? env.XDG_CACHE_HOME : join(homedir(), ".cache");
  return join(cache, "rootstock");
}
