import { applyDelta } from "../../../shared/src/weights/index.js";
import type { ModelWeights } from "../../../shared/src/weights/types.js";
import { assertAggregateFits, MeanDeltaCollector } from "./mean-delta.js";
import type { RoundAggregate, RoundAggregation, ServerStep, Strategy } from "./strategy.js";

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
        aggregate: () => collector.aggregate(),
        step: (aggregate) => applyAggregate(global, aggregate),
      };
    },
  };
}

/**
 * The plain server step, global + aggregate: FedAvg's, and that of any strategy whose
 * robustness lies in how it combines the updates (a median, a trimmed mean).
 */
export function applyAggregate(global: ModelWeights, aggregate: RoundAggregate): ServerStep {
  assertAggregateFits(aggregate, global);
  const { meanDelta } = aggregate;
  let sumSquares = 0;
  for (const v of meanDelta) sumSquares += v * v;
  return {
    weights: applyDelta(global, meanDelta),
    metrics: { totalExamples: aggregate.totalExamples, updateNorm: Math.sqrt(sumSquares) },
  };
}
