import type { ModelPhase, UnetMultitaskSpec } from "../../shared/src/fl/model-spec.js";

/** The paper benchmark at its CPU scale (cli/bench/paper-grid.ts BASE_SIZES): tiny encoder, 32 px, batch 16. */
export const PAPER_CPU_SCALE = { imageSize: 32, batchSize: 16, learningRate: 2e-3, numClasses: 4 } as const;

export function tinyUnetSpec(imageSize: number, phase: ModelPhase): UnetMultitaskSpec {
  return {
    architecture: "unet-multitask",
    encoder: "tiny",
    imageSize,
    numClasses: PAPER_CPU_SCALE.numClasses,
    seed: 7,
    projectionDim: 128,
    phase,
  };
}
