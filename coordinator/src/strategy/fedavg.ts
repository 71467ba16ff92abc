import { WeightedMeanAccumulator } from "../../../shared/src/aggregation/index.js";
import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import { applyDelta } from "../../../shared/src/weights/index.js";
import type { ModelWeights } from "../../../shared/src/weights/types.js";
import type { RoundAggregation, Strategy, UpdateContribution } from "./strategy.js";

/**
 * FedAvg (McMahan et al. 2017) on weight deltas: global + Σ nₖ·Δₖ / Σ nₖ, with nₖ the number of
 * local training examples of site k.
 */
export function createFedAvg(): Strategy {
  return {
    name: "fedavg",
    beginRound(global: ModelWeights): RoundAggregation {
      const accumulator = new WeightedMeanAccumulator(global.values.length);
      return {
        accept(update: UpdateContribution): void {
          if (!(update.numExamples > 0)) {
            throw new FlError(
              ErrorCode.InvalidArgument,
              `update from ${update.siteId} reports ${update.numExamples} examples; need > 0`,
            );
          }
          accumulator.add(update.delta, update.numExamples);
        },
        get acceptedCount() {
          return accumulator.count;
        },
        finish() {
          if (accumulator.count === 0)
            throw new FlError(ErrorCode.FailedPrecondition, "no update was accepted this round");
          const meanDelta = accumulator.mean();
          let sumSquares = 0;
          for (const v of meanDelta) sumSquares += v * v;
          return {
            weights: applyDelta(global, meanDelta),
            metrics: { totalExamples: accumulator.totalWeight, updateNorm: Math.sqrt(sumSquares) },
          };
        },
      };
    },
  };
}
