import { WeightedMeanAccumulator } from "../../../shared/src/aggregation/index.js";
import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import type { ModelWeights } from "../../../shared/src/weights/types.js";
import type { RoundAggregate, UpdateContribution } from "./strategy.js";

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

  /** The mean delta so far; FlError(FailedPrecondition) when nothing was accepted. */
  aggregate(): RoundAggregate {
    if (this.accumulator.count === 0)
      throw new FlError(ErrorCode.FailedPrecondition, "no update was accepted this round");
    return {
      meanDelta: this.accumulator.mean(),
      count: this.accumulator.count,
      totalExamples: this.accumulator.totalWeight,
    };
  }
}

/** An aggregate handed to a server step must still be laid out over the round's global. */
export function assertAggregateFits(aggregate: RoundAggregate, global: ModelWeights): void {
  if (aggregate.meanDelta.length !== global.values.length) {
    throw new FlError(
      ErrorCode.Internal,
      `the round's aggregate has ${aggregate.meanDelta.length} values; the global model has ${global.values.length}`,
    );
  }
}
