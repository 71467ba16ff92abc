import type { RoundAggregate } from "../../../shared/src/fl/pipeline.js";
import type { ModelWeights } from "../../../shared/src/weights/types.js";

export type { RoundAggregate };

/** One site's accepted contribution to a round: the delta of the shared tensors. */
export interface UpdateContribution {
  readonly siteId: string;
  /** local − global over the shared tensors, in the order of the shared manifest. */
  readonly delta: Float32Array;
  readonly numExamples: number;
}

/** The next global weights (same manifest as the round's global) and a few scalar diagnostics. */
export interface ServerStep {
  readonly weights: ModelWeights;
  readonly metrics: Readonly<Record<string, number>>;
}

/**
 * How a round's updates become the next global model, in two steps with a seam between them:
 * the updates are combined into an aggregate (`aggregate`), which the coordinator may transform
 * (the plan's aggregate stages, e.g. central noise) before the server step turns it into the
 * next global weights (`step`). Updates are folded in as they arrive (`accept`). Strategies are
 * pure: no I/O, no clocks.
 */
export interface Strategy {
  readonly name: string;
  beginRound(global: ModelWeights): RoundAggregation;
}

export interface RoundAggregation {
  accept(update: UpdateContribution): void;
  readonly acceptedCount: number;
  /** The combined delta of the accepted updates. FlError(FailedPrecondition) when none was accepted. */
  aggregate(): RoundAggregate;
  /**
   * Applies the server step to an aggregate of this round (as `aggregate` returned it, or
   * transformed): once per round. Server optimisers advance their state here.
   */
  step(aggregate: RoundAggregate): ServerStep;
}
