import { Buffer } from "node:buffer";
import { randomBytes as nodeRandomBytes } from "node:crypto";
import { ErrorCode, FlError } from "../errors.js";

/** Source of cryptographically secure random bytes; injectable so that tests can be deterministic. */
export type RandomSource = (n: number) => Uint8Array;

export const secureRandom: RandomSource = (n) => new Uint8Array(nodeRandomBytes(n));

export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

const BASE64_PATTERN = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict standard base64 (Buffer.from silently skips bad characters); undefined when malformed. */
export function fromBase64(text: string): Uint8Array | undefined {
  if (!BASE64_PATTERN.test(text)) return undefined;
  return new Uint8Array(Buffer.from(text, "base64"));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

export function drawRandom(random: RandomSource, n: number): Uint8Array {
  const bytes = random(n);
  if (!(bytes instanceof Uint8Array) || bytes.length !== n) {
    throw new FlError(
      ErrorCode.Internal,
      `Random source returned ${describeLength(bytes)} instead of ${n} bytes`,
    );
  }
  return bytes;
}

function describeLength(value: unknown): string {
  return value instanceof Uint8Array ? `${value.length} bytes` : "a non-Uint8Array value";
}

/** Constant-time comparison for equal-length inputs (length itself is not secret). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

/**
 * A domain tag, then each field preceded by its u32 big-endian length, so that no two field
 * lists give the same bytes and a signature in one domain is never valid in another.
 */
export function lengthPrefixed(domain: string, fields: readonly Uint8Array[]): Uint8Array {
  const tag = new TextEncoder().encode(domain);
  const total = fields.reduce((sum, field) => sum + 4 + field.length, tag.length);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  out.set(tag, 0);
  let offset = tag.length;
  for (const field of fields) {
    view.setUint32(offset, field.length, false);
    out.set(field, offset + 4);
    offset += 4 + field.length;
  }
  return out;
}

/** A non-negative safe integer as 8 bytes, big-endian. */
export function u64(value: number): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new FlError(ErrorCode.InvalidArgument, `${value} is not a non-negative safe integer`);
  }
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(value), false);
  return out;
}

export function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}
