import type { StageContext, UpdateDraft } from "../../shared/src/fl/pipeline.js";
import { runUpdateStages } from "../../shared/src/fl/pipeline.js";
import { buildPipeline, type StageConfig } from "../../shared/src/fl/stages/index.js";
import { computeDelta, selectTensors } from "../../shared/src/weights/index.js";
import type { ModelWeights } from "../../shared/src/weights/types.js";

/**
 * The hospital's half of the update pipeline: the trained weights as a delta over the global
 * model's shared tensors (local ones never leave), through the phase's client stages in order.
 * With no stages the delta is sealed exactly as computed.
 */
export function draftUpdate(input: {
  /** Both with the phase's sharing applied. */
  trained: ModelWeights;
  global: ModelWeights;
  numExamples: number;
  metrics: Readonly<Record<string, number>>;
  pipeline: readonly StageConfig[];
  context: StageContext;
}): UpdateDraft {
  const delta = computeDelta(selectTensors(input.trained, "shared"), selectTensors(input.global, "shared"));
  return runUpdateStages(
    buildPipeline(input.pipeline).client,
    { delta, numExamples: input.numExamples, metrics: input.metrics },
    input.context,
  );
}
