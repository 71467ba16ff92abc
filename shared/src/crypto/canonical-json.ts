import { ErrorCode, FlError } from "../errors.js";

/**
 * Deterministic JSON bytes for signing: object keys sorted by UTF-16 code unit, no whitespace,
 * UTF-8. Only plain objects, arrays, strings, finite numbers, booleans and null are accepted;
 * object properties whose value is undefined are left out (as JSON.stringify does).
 */
export function canonicalJson(value: unknown): Uint8Array {
  return new TextEncoder().encode(stringify(value, "$"));
}

function stringify(value: unknown, path: string): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
    case "boolean":
      return JSON.stringify(value);
    case "number":
      if (!Number.isFinite(value)) throw unsupported(path, String(value));
      return JSON.stringify(value);
    case "object":
      if (Array.isArray(value)) {
        return `[${value.map((item, i) => stringify(item, `${path}[${i}]`)).join(",")}]`;
      }
      if (!isPlainObject(value)) throw unsupported(path, `an instance of ${value.constructor?.name ?? "?"}`);
      return `{${Object.keys(value)
        .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
        .sort()
        .map(
          (key) =>
            `${JSON.stringify(key)}:${stringify((value as Record<string, unknown>)[key], `${path}.${key}`)}`,
        )
        .join(",")}}`;
    default:
      throw unsupported(path, typeof value);
  }
}

function isPlainObject(value: object): boolean {
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function unsupported(path: string, what: string): FlError {
  return new FlError(ErrorCode.InvalidArgument, `Cannot encode ${what} at ${path} as canonical JSON`);
}
