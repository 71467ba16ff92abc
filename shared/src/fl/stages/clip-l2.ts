import { z } from "zod";
import type { UpdateDraft, UpdateStage } from "../pipeline.js";
import { defineStage } from "./define.js";

/** The L2 norm of a vector, accumulated in float64. */
export function l2Norm(values: Float32Array): number {
  let sum = 0;
  for (const v of values) sum += v * v;
  return Math.sqrt(sum);
}

/**
 * Per-site L2 norm clipping of the update (DP-FedAvg's clipping, McMahan et al. 2018): a delta
 * longer than `maxNorm` is scaled down to exactly `maxNorm`; shorter ones pass unchanged. It
 * bounds any one hospital's influence on the round, and is the sensitivity bound differential
 * privacy's noise is calibrated to. Adds `clip.norm` (the norm before clipping) and
 * `clip.clipped` (1 when it scaled) to the training metrics.
 */
export function createClipStage(options: { maxNorm: number }): UpdateStage {
  const { maxNorm } = options;
  return {
    name: "clip-l2",
    apply(update: UpdateDraft): UpdateDraft {
      const norm = l2Norm(update.delta.values);
      const clipped = norm > maxNorm;
      const metrics = { ...update.metrics, "clip.norm": norm, "clip.clipped": clipped ? 1 : 0 };
      if (!clipped) return { ...update, metrics };
      const scale = maxNorm / norm;
      const values = new Float32Array(update.delta.values.length);
      update.delta.values.forEach((v, i) => {
        values[i] = v * scale;
      });
      return { ...update, delta: { manifest: update.delta.manifest, values }, metrics };
    },
  };
}

export const CLIP_L2 = defineStage({
  name: "clip-l2",
  options: {
    /** Largest L2 norm a hospital's delta may have; longer deltas are scaled down to it. */
    maxNorm: z.number().positive(),
  },
  client: createClipStage,
});
