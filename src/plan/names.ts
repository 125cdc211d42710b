/**
 * What a plan, stage or step may be called: lowercase, one path component, never `.` or `..`. The store
 * makes folders of these names, so what is read back from its own files is held to it too.
 */
export const NAME_PATTERN = /^[a-z0-9][a-z0-9._+-]*$/;
