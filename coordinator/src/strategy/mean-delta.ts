import { WeightedMeanAccumulator } from "../../../shared/src/aggregation/index.js";
import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import type { UpdateContribution } from "./strategy.js";

/**
 * The part every strategy shares: the example-weighted mean of the round's deltas, folded in
 * one update at a time (Σ nₖ·Δₖ / Σ nₖ).
 */
export class MeanDeltaCollector {
  private readonly accumulator: WeightedMeanAccumulator;

  constructor(length: number) {
    this.accumulator = new WeightedMeanAccumulator(length);
  }

  accept(update: UpdateContribution): void {
    if (!(update.numExamples > 0)) {
      throw new FlError(
        ErrorCode.InvalidArgument,
        `update from ${update.siteId} reports ${update.numExamples} examples; need > 0`,
      );
    }
    this.accumulator.add(update.delta, update.numExamples);
  }

  get count(): number {
    return this.accumulator.count;
  }

  get totalExamples(): number {
    return this.accumulator.totalWeight;
  }

  /** The mean delta; FlError(FailedPrecondition) when nothing was accepted. */
  mean(): Float32Array {
    if (this.accumulator.count === 0)
      throw new FlError(ErrorCode.FailedPrecondition, "no update was accepted this round");
    return this.accumulator.mean();
  }
}
