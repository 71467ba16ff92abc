import { ErrorCode, FlError } from "../errors.js";

/**
 * Weighted mean of equal-length vectors, folded in one at a time so that memory does not grow
 * with the number of clients. Sums in Float64 so that the result does not depend (beyond
 * float32 rounding) on the order in which updates arrive. Values are not checked for NaN or
 * Infinity: run assertFinite on an update before adding it.
 */
export class WeightedMeanAccumulator {
  private readonly sums: Float64Array;
  private added = 0;
  private weightSum = 0;

  constructor(length: number) {
    if (!Number.isSafeInteger(length) || length < 0) {
      throw new FlError(
        ErrorCode.InvalidArgument,
        `Accumulator length must be a non-negative integer, got ${length}`,
      );
    }
    this.sums = new Float64Array(length);
  }

  /** Adds `weight * values`. The weight (usually numExamples) must be finite and > 0. */
  add(values: Float32Array, weight: number): void {
    if (values.length !== this.sums.length) {
      throw new FlError(
        ErrorCode.InvalidArgument,
        `Cannot add a vector of ${values.length} values to an accumulator of ${this.sums.length}`,
      );
    }
    if (typeof weight !== "number" || !Number.isFinite(weight) || weight <= 0) {
      throw new FlError(
        ErrorCode.InvalidArgument,
        `Aggregation weight must be a finite number > 0, got ${weight}`,
      );
    }
    const sums = this.sums;
    for (let i = 0; i < sums.length; i++) sums[i] = (sums[i] as number) + weight * (values[i] as number);
    this.added += 1;
    this.weightSum += weight;
  }

  /** Number of vectors added. */
  get count(): number {
    return this.added;
  }

  get totalWeight(): number {
    return this.weightSum;
  }

  /** sum(weight * values) / sum(weight), rounded to float32. FlError(FailedPrecondition) when empty. */
  mean(): Float32Array {
    if (this.added === 0) {
      throw new FlError(ErrorCode.FailedPrecondition, "Cannot take the mean of nothing: no update was added");
    }
    const out = new Float32Array(this.sums.length);
    for (let i = 0; i < out.length; i++) out[i] = (this.sums[i] as number) / this.weightSum;
    return out;
  }
}

/** One-shot weighted mean (FedAvg). FlError(FailedPrecondition) when `items` is empty. */
export function weightedMean(items: ReadonlyArray<{ values: Float32Array; weight: number }>): Float32Array {
  const first = items[0];
  if (first === undefined) {
    throw new FlError(ErrorCode.FailedPrecondition, "Cannot take the mean of nothing: no update was given");
  }
  const accumulator = new WeightedMeanAccumulator(first.values.length);
  for (const item of items) accumulator.add(item.values, item.weight);
  return accumulator.mean();
}
