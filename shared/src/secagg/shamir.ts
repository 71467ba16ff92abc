import { drawRandom, type RandomSource } from "../crypto/encoding.js";

/**
 * Shamir t-of-n secret sharing over the prime field GF(2^521 − 1), with BigInt. The Mersenne
 * prime is large enough that a 32-byte secret (a mask seed or an X25519 secret key) is one field
 * element, so one polynomial shares it. Written here because no maintained, audited JavaScript
 * library offers Shamir over a prime field with explicit x-coordinates and share verification
 * hooks (the npm ones work over GF(2^8) byte-wise, or are unmaintained); the arithmetic is short
 * and tested against a second implementation and by interpolation identities.
 */
export const FIELD_PRIME = 2n ** 521n - 1n;
/** A share's y-coordinate as fixed-length big-endian bytes (521 bits round up to 66 bytes). */
export const SHARE_BYTES = 66;
/** The largest secret a polynomial carries here, in bytes. */
export const SECRET_BYTES = 32;

export interface Share {
  /** The holder's x-coordinate, 1 ≤ x < p (never 0: that is where the secret lives). */
  readonly x: number;
  readonly y: bigint;
}

/** Shares of `secret` (≤ 32 bytes, big-endian) at each x in `xs`; any `threshold` of them recover it. */
export function splitSecret(
  secret: Uint8Array,
  options: { threshold: number; xs: readonly number[]; random: RandomSource },
): Share[] {
  const { threshold, xs, random } = options;
  if (secret.length > SECRET_BYTES) throw new RangeError(`a secret has at most ${SECRET_BYTES} bytes`);
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > xs.length) {
    throw new RangeError(`threshold ${threshold} must be from 1 to the ${xs.length} holders`);
  }
  if (new Set(xs).size !== xs.length || xs.some((x) => !Number.isSafeInteger(x) || x < 1)) {
    throw new RangeError("holder x-coordinates must be distinct positive integers");
  }
  const coefficients = [bytesToBigint(secret)];
  for (let i = 1; i < threshold; i++) coefficients.push(randomFieldElement(random));
  return xs.map((x) => ({ x, y: evaluate(coefficients, BigInt(x)) }));
}

/** The polynomial through `shares` evaluated at `at` (0 gives the secret). Shares need distinct x. */
export function interpolateAt(shares: readonly Share[], at: number): bigint {
  const xs = shares.map((s) => BigInt(s.x));
  const target = BigInt(at);
  let result = 0n;
  for (let i = 0; i < shares.length; i++) {
    let numerator = 1n;
    let denominator = 1n;
    for (let j = 0; j < shares.length; j++) {
      if (j === i) continue;
      numerator = mod(numerator * (target - (xs[j] as bigint)));
      denominator = mod(denominator * ((xs[i] as bigint) - (xs[j] as bigint)));
    }
    result = mod(result + (shares[i] as Share).y * numerator * inverse(denominator));
  }
  return result;
}

/** The secret of `shares` as 32 bytes, or undefined when the value does not fit (bad shares). */
export function combineShares(shares: readonly Share[]): Uint8Array | undefined {
  return bigintToBytes(interpolateAt(shares, 0), SECRET_BYTES);
}

export function shareToBytes(y: bigint): Uint8Array {
  const bytes = bigintToBytes(y, SHARE_BYTES);
  if (bytes === undefined) throw new RangeError("share is not a field element");
  return bytes;
}

/** A share's y from its bytes; undefined when the length is wrong or the value is not below p. */
export function shareFromBytes(bytes: Uint8Array): bigint | undefined {
  if (bytes.length !== SHARE_BYTES) return undefined;
  const y = bytesToBigint(bytes);
  return y < FIELD_PRIME ? y : undefined;
}

function evaluate(coefficients: readonly bigint[], x: bigint): bigint {
  let y = 0n;
  for (let i = coefficients.length - 1; i >= 0; i--) y = mod(y * x + (coefficients[i] as bigint));
  return y;
}

/** Uniform in [0, p): 521 random bits, rejecting the single value p itself. */
function randomFieldElement(random: RandomSource): bigint {
  for (;;) {
    const bytes = drawRandom(random, SHARE_BYTES);
    bytes[0] = (bytes[0] as number) & 0x01;
    const value = bytesToBigint(bytes);
    if (value < FIELD_PRIME) return value;
  }
}

function mod(a: bigint): bigint {
  const r = a % FIELD_PRIME;
  return r < 0n ? r + FIELD_PRIME : r;
}

/** Inverse modulo p by the extended Euclidean algorithm (a ≠ 0 mod p). */
function inverse(a: bigint): bigint {
  let [r0, r1] = [FIELD_PRIME, mod(a)];
  let [t0, t1] = [0n, 1n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [t0, t1] = [t1, t0 - q * t1];
  }
  if (r0 !== 1n) throw new RangeError("not invertible: two shares have the same x");
  return mod(t0);
}

export function bytesToBigint(bytes: Uint8Array): bigint {
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  return value;
}

function bigintToBytes(value: bigint, length: number): Uint8Array | undefined {
  if (value < 0n || value >= 1n << BigInt(8 * length)) return undefined;
  const out = new Uint8Array(length);
  let v = value;
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}
