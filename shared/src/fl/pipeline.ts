import type { ModelWeights, WeightsManifest } from "../weights/types.js";

/**
 * The update pipeline: small, pure stages an update passes through between training and the
 * strategy. On the hospital: local weights → delta → client stages (clip, noise, quantise,
 * mask, …) → seal. On the coordinator: open → verify → coordinator stages (unmask, decode, norm
 * checks, …) → strategy, whose mean delta then passes the aggregate stages (central noise, …)
 * before the server optimiser's step. A phase with no stages sends the delta unchanged.
 *
 * Stages are declared once in `stages/index.ts`; a plan switches them on per phase.
 */

/** An update on its way through the stages. */
export interface UpdateDraft {
  /** local − global over the phase's shared tensors. */
  readonly delta: ModelWeights;
  readonly numExamples: number;
  /** Diagnostics a stage adds (e.g. `clip.norm`); they travel with the training metrics. */
  readonly metrics: Readonly<Record<string, number>>;
}

/** Where an update is: stages may depend on it (per-site keys, per-round seeds), never on I/O. */
export interface StageContext {
  readonly siteId: string;
  readonly round: number;
  readonly phase: string;
}

/** One transformation of a single update. Pure: the same input gives the same output. */
export interface UpdateStage {
  readonly name: string;
  /** Returns the transformed update; throws FlError to refuse it (the verdict names the stage). */
  apply(update: UpdateDraft, context: StageContext): UpdateDraft;
}

/** A round's updates combined into one delta by the strategy, before its server step. */
export interface RoundAggregate {
  /** Laid out like the round's shared tensors; the FedAvg family's is Σ nₖ·Δₖ / Σ nₖ. */
  readonly meanDelta: Float32Array;
  readonly count: number;
  readonly totalExamples: number;
}

/** A round's aggregate on its way through the aggregate stages. */
export interface AggregateDraft extends RoundAggregate {
  /** The shared tensors the mean is laid out over. */
  readonly manifest: WeightsManifest;
  /** Diagnostics a stage adds; they join the round's metrics. */
  readonly metrics: Readonly<Record<string, number>>;
}

/** One transformation of a round's aggregate (e.g. central differential-privacy noise). */
export interface AggregateStage {
  readonly name: string;
  apply(aggregate: AggregateDraft, context: Omit<StageContext, "siteId">): AggregateDraft;
}

/** A phase's stages, by where they run. */
export interface UpdatePipeline {
  /** Run by each hospital on its delta before sealing. */
  readonly client: readonly UpdateStage[];
  /** Run by the coordinator on each verified update before the strategy folds it in. */
  readonly coordinator: readonly UpdateStage[];
  /** Run by the coordinator on the round's mean delta before the server optimiser's step. */
  readonly aggregate: readonly AggregateStage[];
}

export const EMPTY_PIPELINE: UpdatePipeline = Object.freeze({ client: [], coordinator: [], aggregate: [] });

/** Passes an update through stages in order; with none it is returned as it came (bit for bit). */
export function runUpdateStages(
  stages: readonly UpdateStage[],
  update: UpdateDraft,
  context: StageContext,
): UpdateDraft {
  return stages.reduce((draft, stage) => stage.apply(draft, context), update);
}

/** Passes a round's aggregate through stages in order. */
export function runAggregateStages(
  stages: readonly AggregateStage[],
  aggregate: AggregateDraft,
  context: Omit<StageContext, "siteId">,
): AggregateDraft {
  return stages.reduce((draft, stage) => stage.apply(draft, context), aggregate);
}
