/** A value as a message shows it: strings quoted and cut, tables and lists by kind. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (typeof value === "string") return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (value instanceof Date) return `a date (${value.toISOString()})`;
  if (typeof value === "object" && value !== null) return "a table";
  return `${typeof value} ${String(value)}`;
}
