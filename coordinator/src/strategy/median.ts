import type { ModelWeights } from "../../../shared/src/weights/types.js";
import { bufferedRound, reduceSortedColumns, totalExamples } from "./round-deltas.js";
import type { RoundAggregation, Strategy } from "./strategy.js";

/**
 * Coordinate-wise median of the round's deltas (Yin et al. 2018, "Byzantine-Robust Distributed
 * Learning"): each coordinate is the median over sites (the mean of the two middle values for
 * an even n), so fewer than half the sites cannot move it beyond the honest values' range.
 * Sites weigh equally, whatever their example counts, and every delta of the round is kept in
 * memory until the round is aggregated.
 */
export function createMedian(): Strategy {
  return {
    name: "median",
    beginRound(global: ModelWeights): RoundAggregation {
      return bufferedRound(global, (deltas, length) => ({
        meanDelta: reduceSortedColumns(deltas, length, median),
        count: deltas.length,
        totalExamples: totalExamples(deltas),
      }));
    },
  };
}

function median(sorted: Float64Array): number {
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
