/**
 * The host tools rootstock runs itself: tar and patch on a step's sources, bwrap around it, mke2fs or
 * cpio on an image, QEMU. No step's key names them (it names the tools the step runs; an image's key
 * names its writers), so a run's report names each one the run used, found as it was found when it ran.
 */

/** Each tool and PATH, with the count of uses when it was last run. */
const lastUse = new Map<string, { name: string; searchPath: string; use: number }>();
let uses = 0;

/** Records that rootstock ran `name`, looked up on `searchPath`. */
export function noteToolUse(name: string, searchPath: string): void {
  uses += 1;
  lastUse.set(`${searchPath}\0${name}`, { name, searchPath, use: uses });
}

/** A mark to give toolsUsedSince: the tools run after it are a run's own. */
export function toolUseMark(): number {
  return uses;
}

export function toolsUsedSince(mark: number): { name: string; searchPath: string }[] {
  return [...lastUse.values()]
    .filter((entry) => entry.use > mark)
    .map(({ name, searchPath }) => ({ name, searchPath }))
    .sort((a, b) => a.name.localeCompare(b.name));
}
