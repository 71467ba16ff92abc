import { ErrorCode } from "../errors.js";
import { SecAggError, SecAggReason } from "./errors.js";

/**
 * Fixed-point codec for secure aggregation. Masks are uniform in Z_2^32, so the update must live
 * in that ring: each value is clipped to [−clip, clip], scaled by 2^fracBits, rounded to the
 * nearest integer and stored as its two's-complement residue in a Uint32Array; adding residues
 * with wrap-around adds the integers. The sum of `count` such integers is read back as a signed
 * 32-bit number, which is exact while count · ⌈clip · 2^fracBits⌉ ≤ 2^31 − 1 (the bit budget).
 */
export interface FixedPointCodec {
  /** Largest magnitude a value keeps; larger ones are clipped (the update's L∞ bound). */
  readonly clip: number;
  /** Fractional bits: the quantisation step is 2^−fracBits. */
  readonly fracBits: number;
}

/** The largest |sum| the ring can hold unambiguously as a signed 32-bit integer. */
export const RING_SIGNED_LIMIT = 2 ** 31 - 1;

/** The largest integer one client's encoded value can have. */
export function maxEncodedMagnitude(codec: FixedPointCodec): number {
  return Math.ceil(codec.clip * 2 ** codec.fracBits);
}

/**
 * Throws a BadParams error naming the numbers when `cohortSize` clients' encoded values could sum
 * past the signed range of Z_2^32, with the largest fracBits and clip that would fit.
 */
export function checkBitBudget(codec: FixedPointCodec, cohortSize: number): void {
  const { clip, fracBits } = codec;
  if (!(Number.isFinite(clip) && clip > 0)) {
    throw badParams(`clip must be a positive finite number, got ${clip}`);
  }
  if (!Number.isInteger(fracBits) || fracBits < 0 || fracBits > 30) {
    throw badParams(`fracBits must be an integer from 0 to 30, got ${fracBits}`);
  }
  if (!Number.isSafeInteger(cohortSize) || cohortSize < 1) {
    throw badParams(`the cohort size must be a positive integer, got ${cohortSize}`);
  }
  const worst = cohortSize * maxEncodedMagnitude(codec);
  if (worst > RING_SIGNED_LIMIT) {
    const maxFracBits = Math.floor(Math.log2(RING_SIGNED_LIMIT / (cohortSize * clip)));
    const maxClip = Math.floor(RING_SIGNED_LIMIT / cohortSize) / 2 ** fracBits;
    throw badParams(
      `the bit budget overflows: ${cohortSize} clients × clip ${clip} × 2^${fracBits} = ${worst} ` +
        `> 2^31 − 1 = ${RING_SIGNED_LIMIT}; lower fracBits to ${maxFracBits} or less, or clip to ` +
        `${maxClip} or less, or use a smaller cohort`,
    );
  }
}

/** The largest fracBits that fits `cohortSize` clients at `clip` (−1 when none does). */
export function maxFracBits(clip: number, cohortSize: number): number {
  for (let f = 30; f >= 0; f--) {
    if (cohortSize * Math.ceil(clip * 2 ** f) <= RING_SIGNED_LIMIT) return f;
  }
  return -1;
}

/** Clips, scales and rounds `values` into the ring. NaN or ±Infinity is refused, not clipped. */
export function encodeFixedPoint(values: Float32Array, codec: FixedPointCodec): Uint32Array {
  const { clip } = codec;
  const scale = 2 ** codec.fracBits;
  const out = new Uint32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (!Number.isFinite(v)) {
      throw new SecAggError(
        ErrorCode.NonFinite,
        SecAggReason.Malformed,
        `value ${i} of the update is ${v}; secure aggregation needs finite values`,
      );
    }
    const clipped = Math.min(clip, Math.max(-clip, v));
    // Assigning to a Uint32Array reduces modulo 2^32: a negative integer becomes its residue.
    out[i] = Math.round(clipped * scale);
  }
  return out;
}

/** A sum of encoded values, read back as signed integers divided by 2^fracBits. */
export function decodeSum(sum: Uint32Array, codec: FixedPointCodec): Float64Array {
  const scale = 2 ** -codec.fracBits;
  const out = new Float64Array(sum.length);
  for (let i = 0; i < sum.length; i++) out[i] = ((sum[i] as number) | 0) * scale;
  return out;
}

/** The mean over `count` clients, as the pipeline's Float32Array. */
export function decodeMean(sum: Uint32Array, count: number, codec: FixedPointCodec): Float32Array {
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new SecAggError(
      ErrorCode.InvalidArgument,
      SecAggReason.Malformed,
      `count must be ≥ 1, got ${count}`,
    );
  }
  const scale = 2 ** -codec.fracBits / count;
  const out = new Float32Array(sum.length);
  for (let i = 0; i < sum.length; i++) out[i] = ((sum[i] as number) | 0) * scale;
  return out;
}

/**
 * The stated bound on |decodeMean − mean of the clipped inputs| per coordinate: each client's
 * rounding is off by at most half a step (2^−(fracBits+1)), so their mean is too; storing the
 * mean (|mean| ≤ clip) as float32 adds at most clip · 2^−24, and the float64 division far less
 * (bounded here by a second clip · 2^−24).
 */
export function quantisationBound(codec: FixedPointCodec): number {
  return 2 ** -(codec.fracBits + 1) + codec.clip * 2 ** -23;
}

function badParams(message: string): SecAggError {
  return new SecAggError(ErrorCode.InvalidConfig, SecAggReason.BadParams, message);
}
