import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import type { ModelWeights } from "../../../shared/src/weights/types.js";
import { applyAggregate } from "./fedavg.js";
import type { RoundAggregate, RoundAggregation, UpdateContribution } from "./strategy.js";

/**
 * A round of a robust strategy: unlike a mean, an order statistic or a distance-based selection
 * cannot be folded in one update at a time, so every delta of the round is kept (n × the shared
 * parameters as float32) until `aggregate()` combines them. The server step is the plain one.
 */
export function bufferedRound(
  global: ModelWeights,
  combine: (deltas: readonly UpdateContribution[], length: number) => RoundAggregate,
): RoundAggregation {
  const deltas: UpdateContribution[] = [];
  return {
    accept(update) {
      // A mean would notice a wrong length when adding; a column read past the end would not.
      if (update.delta.length !== global.values.length)
        throw new FlError(
          ErrorCode.WeightsShapeMismatch,
          `update from ${update.siteId} has ${update.delta.length} values; the shared tensors have ${global.values.length}`,
        );
      deltas.push(update);
    },
    get acceptedCount() {
      return deltas.length;
    },
    aggregate() {
      if (deltas.length === 0)
        throw new FlError(ErrorCode.FailedPrecondition, "no update was accepted this round");
      return combine(deltas, global.values.length);
    },
    step: (aggregate) => applyAggregate(global, aggregate),
  };
}

/** The examples behind an aggregate: reported only, since robust strategies weigh sites equally. */
export function totalExamples(deltas: readonly UpdateContribution[]): number {
  return deltas.reduce((sum, d) => sum + d.numExamples, 0);
}

/**
 * Applies `reduce` to each coordinate's column of values across the sites, sorted ascending.
 * The column buffer is reused, so a coordinate costs one sort of n values and no allocation.
 */
export function reduceSortedColumns(
  deltas: readonly UpdateContribution[],
  length: number,
  reduce: (sorted: Float64Array) => number,
): Float32Array {
  const out = new Float32Array(length);
  const column = new Float64Array(deltas.length);
  const arrays = deltas.map((d) => d.delta);
  for (let i = 0; i < length; i++) {
    for (let k = 0; k < arrays.length; k++) column[k] = (arrays[k] as Float32Array)[i] as number;
    column.sort();
    out[i] = reduce(column);
  }
  return out;
}
