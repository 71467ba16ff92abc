import { ErrorCode, FlError } from "../errors.js";
import type { FixedPointCodec } from "../secagg/fixed-point.js";

/**
 * FedAvg under secure aggregation, which sums unweighted vectors: each site sends w·Δ and one
 * extra coordinate w·clip, with w = its examples / weightScale ≤ 1 (the coordinator picks
 * weightScale, the most examples any site of the cohort declared). The sum's last coordinate
 * divided by clip is Σw, so the mean Σ w·Δ / Σ w is the example-weighted FedAvg mean. Scaling
 * the weight coordinate by clip keeps it inside the codec's range whatever clip is, so the bit
 * budget for n sites covers it like any other coordinate.
 */

/** The vector a site encodes: w·Δ, then w·clip. */
export function secAggContribution(
  delta: Float32Array,
  numExamples: number,
  weightScale: number,
  clip: number,
): Float32Array {
  if (!(weightScale > 0) || !(numExamples > 0) || numExamples > weightScale) {
    throw new FlError(
      ErrorCode.InvalidArgument,
      `secure aggregation weighs ${numExamples} examples against a scale of ${weightScale}: need 0 < examples ≤ scale`,
    );
  }
  const w = numExamples / weightScale;
  const out = new Float32Array(delta.length + 1);
  for (let i = 0; i < delta.length; i++) out[i] = w * (delta[i] as number);
  out[delta.length] = w * clip;
  return out;
}

export interface SecAggMean {
  readonly meanDelta: Float32Array;
  /** Σ w over the survivors. */
  readonly totalWeight: number;
}

/** The example-weighted mean from the decoded sum (its last coordinate is Σ w·clip). */
export function secAggMean(sum: Float64Array, clip: number): SecAggMean {
  const length = sum.length - 1;
  const totalWeight = (sum[length] as number) / clip;
  if (!(totalWeight > 0)) {
    throw new FlError(
      ErrorCode.FailedPrecondition,
      `the weights of the secure sum add up to ${totalWeight}: no example counts in it`,
    );
  }
  const meanDelta = new Float32Array(length);
  for (let i = 0; i < length; i++) meanDelta[i] = (sum[i] as number) / totalWeight;
  return { meanDelta, totalWeight };
}

/**
 * The stated bound on |secure mean − FedAvg mean| per coordinate, for `count` sites whose
 * weights add up to `totalWeight`, no value clipped, and |FedAvg mean| ≤ `maxAbsMean`. Each
 * encoded value is off by at most h = 2^−(fracBits+1), so the sum Σw·Δ by n·h and Σw by n·h/clip;
 * A/B with those errors moves by at most (n·h + |A/B|·n·h/clip) / (B − n·h/clip); the float32
 * store adds |mean|·2^−24 and float64 division far less (bounded by another 2^−24 term); w·Δ
 * rounded to float32 before encoding adds up to clip·2^−24 per site to the sum.
 */
export function secAggMeanBound(
  codec: FixedPointCodec,
  count: number,
  totalWeight: number,
  maxAbsMean: number,
): number {
  const h = 2 ** -(codec.fracBits + 1);
  const weightError = (count * h) / codec.clip;
  const rounding = count * (h + codec.clip * 2 ** -24);
  return (rounding + maxAbsMean * weightError) / (totalWeight - weightError) + 2 * maxAbsMean * 2 ** -24;
}
