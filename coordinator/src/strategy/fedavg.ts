import { applyDelta } from "../../../shared/src/weights/index.js";
import type { ModelWeights } from "../../../shared/src/weights/types.js";
import { MeanDeltaCollector } from "./mean-delta.js";
import type { RoundAggregation, Strategy } from "./strategy.js";

/**
 * FedAvg (McMahan et al. 2017) on weight deltas: global + Σ nₖ·Δₖ / Σ nₖ, with nₖ the number of
 * local training examples of site k.
 */
export function createFedAvg(): Strategy {
  return {
    name: "fedavg",
    beginRound(global: ModelWeights): RoundAggregation {
      const collector = new MeanDeltaCollector(global.values.length);
      return {
        accept: (update) => collector.accept(update),
        get acceptedCount() {
          return collector.count;
        },
        finish() {
          const meanDelta = collector.mean();
          let sumSquares = 0;
          for (const v of meanDelta) sumSquares += v * v;
          return {
            weights: applyDelta(global, meanDelta),
            metrics: { totalExamples: collector.totalExamples, updateNorm: Math.sqrt(sumSquares) },
          };
        },
      };
    },
  };
}
