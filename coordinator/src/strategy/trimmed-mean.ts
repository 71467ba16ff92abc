import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import type { ModelWeights } from "../../../shared/src/weights/types.js";
import { bufferedRound, reduceSortedColumns, totalExamples } from "./round-deltas.js";
import type { RoundAggregation, Strategy } from "./strategy.js";

export interface TrimmedMeanOptions {
  /** β in [0, 0.5): ⌊β·n⌋ values are dropped from each end of every coordinate. */
  readonly trimFraction: number;
}

/**
 * Coordinate-wise β-trimmed mean (Yin et al. 2018): for each coordinate the ⌊β·n⌋ largest and
 * ⌊β·n⌋ smallest values over sites are dropped and the rest averaged, so up to ⌊β·n⌋ attackers
 * per coordinate are cut off. β = 0 is the unweighted mean. Sites weigh equally, whatever their
 * example counts, and every delta of the round is kept in memory until the round is aggregated.
 */
export function createTrimmedMean(options: TrimmedMeanOptions): Strategy {
  const { trimFraction } = options;
  if (!(trimFraction >= 0 && trimFraction < 0.5))
    throw new FlError(ErrorCode.InvalidArgument, `trimFraction must be in [0, 0.5), got ${trimFraction}`);
  return {
    name: "trimmed-mean",
    beginRound(global: ModelWeights): RoundAggregation {
      return bufferedRound(global, (deltas, length) => {
        const trim = Math.floor(trimFraction * deltas.length);
        const kept = deltas.length - 2 * trim;
        return {
          meanDelta: reduceSortedColumns(deltas, length, (sorted) => {
            let sum = 0;
            for (let k = trim; k < trim + kept; k++) sum += sorted[k] as number;
            return sum / kept;
          }),
          count: deltas.length,
          totalExamples: totalExamples(deltas),
        };
      });
    },
  };
}
