/** Options several commands share, spelled and explained the same way everywhere. */
import { Option } from "commander";

const collect = (value: string, previous: string[]) => [...previous, value];

export const jobsOption = () =>
  new Option("-j, --jobs <n>", "steps built at once (default: the number of cores)");

export const offlineBuildOption = () =>
  new Option("--offline", "fetch nothing: fail, listing every missing source, if one is not in the store");

export const mirrorOption = () =>
  new Option(
    "--mirror <mirror>",
    "a mirror (folder or URL) tried first when fetching (repeatable; also $ROOTSTOCK_MIRRORS)",
  )
    .argParser(collect)
    .default([]);

export const setOption = () =>
  new Option("--set <name=value>", "override a plan variable (repeatable)").argParser(collect).default([]);

export const machinesOption = () =>
  new Option("--machines <n>", "test machines running at once (default: the number of cores)");
