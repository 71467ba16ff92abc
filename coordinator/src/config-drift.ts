/**
 * The settings that differ between what a federation started with and what it is started with
 * now, one line each, by dotted path: `model.widths: [16,32,64] -> [8,16]`. Empty when equal.
 * Compared as JSON values, so key order does not matter.
 */
export function configDrift(before: unknown, after: unknown, path = ""): string[] {
  if (isRecord(before) && isRecord(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((key) => configDrift(before[key], after[key], path ? `${path}.${key}` : key));
  }
  if (Array.isArray(before) && Array.isArray(after) && before.length === after.length)
    return before.flatMap((item, i) => configDrift(item, after[i], `${path}[${i}]`));
  if (JSON.stringify(before) === JSON.stringify(after)) return [];
  return [`${path || "(the whole config)"}: ${shown(before)} -> ${shown(after)}`];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function shown(value: unknown): string {
  return value === undefined ? "(not set)" : JSON.stringify(value);
}
