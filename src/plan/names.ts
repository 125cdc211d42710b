/**
 * What a plan, stage or step may be called: lowercase, one path component, never `.` or `..`. The store
 * makes folders and files of these names (with suffixes, within a file name's 255 bytes), so what is read
 * back from its own files is held to it too.
 */
export const NAME_PATTERN = /^[a-z0-9][a-z0-9._+-]{0,99}$/;
export const NAME_MAX_LENGTH = 100;

/**
 * What rootstock writes in each run folder. A test's machines get a folder there named after their
 * image (`RUN/IMAGE/MODULE/`), so no image may take one of these names.
 */
export const RUN_FOLDER_NAMES: ReadonlySet<string> = new Set([
  "journal.jsonl",
  "run.json",
  "report.md",
  "report.html",
  "junit.xml",
  "results.json",
  "logs",
  "lan",
]);
