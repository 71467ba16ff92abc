import type { ModelWeights } from "../../../shared/src/weights/types.js";

/** One site's accepted contribution to a round: the delta of the shared tensors. */
export interface UpdateContribution {
  readonly siteId: string;
  /** local − global over the shared tensors, in the order of the shared manifest. */
  readonly delta: Float32Array;
  readonly numExamples: number;
}

/**
 * How a round's updates become the next global model. Updates are folded in as they arrive
 * (`accept`), so coordinator memory is one accumulator whatever the number of clients.
 * Strategies are pure: no I/O, no clocks.
 */
export interface Strategy {
  readonly name: string;
  beginRound(global: ModelWeights): RoundAggregation;
}

export interface RoundAggregation {
  accept(update: UpdateContribution): void;
  readonly acceptedCount: number;
  /** The next global weights (same manifest as `global`) and a few scalar diagnostics.
   * Throws FlError(FailedPrecondition) when nothing was accepted. */
  finish(): { readonly weights: ModelWeights; readonly metrics: Readonly<Record<string, number>> };
}
