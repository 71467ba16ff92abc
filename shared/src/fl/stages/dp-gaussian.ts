import { z } from "zod";
import { ErrorCode, FlError } from "../../errors.js";
import { addGaussianNoise, type RandomBytes } from "../../privacy/gaussian-noise.js";
import type { AggregateDraft, AggregateStage } from "../pipeline.js";
import { defineStage } from "./define.js";

/** The standard deviation of the noise on the round's mean delta: z·C / m. */
export function centralNoiseStd(options: {
  noiseMultiplier: number;
  clipNorm: number;
  cohort: number;
}): number {
  return (options.noiseMultiplier * options.clipNorm) / options.cohort;
}

/**
 * Central DP-FedAvg noise (McMahan et al. 2018, the fixed-denominator estimator): the round's
 * clipped, equally weighted updates are summed, divided by the cohort size m the round was sent
 * to (not by how many arrived, which would itself depend on the data of whoever dropped out),
 * and N(0, (z·C / m)²) is added to every coordinate from the CSPRNG. With every weight 1 and each
 * update within C, one site changes the sum by at most C, so this is the Gaussian mechanism with
 * noise multiplier z on the sum. Unlike the other stages it is random by design: the noise must
 * be unpredictable to everyone but the coordinator that adds it.
 */
export function createDpGaussianStage(
  options: { noiseMultiplier: number; clipNorm: number; cohort: number },
  random?: RandomBytes,
): AggregateStage {
  const std = centralNoiseStd(options);
  return {
    name: "dp-gaussian",
    apply(aggregate: AggregateDraft): AggregateDraft {
      if (aggregate.count > options.cohort)
        throw new FlError(
          ErrorCode.Internal,
          `dp-gaussian: ${aggregate.count} updates were aggregated in a round sent to ${options.cohort} sites`,
        );
      if (aggregate.totalExamples !== aggregate.count)
        throw new FlError(
          ErrorCode.FailedPrecondition,
          "dp-gaussian: the round's updates were not weighted equally (the dp-clip stage did not run on the coordinator); the noise would not cover one site's influence",
        );
      const scale = aggregate.count / options.cohort;
      const meanDelta = new Float32Array(aggregate.meanDelta.length);
      for (let i = 0; i < meanDelta.length; i++) meanDelta[i] = (aggregate.meanDelta[i] as number) * scale;
      addGaussianNoise(meanDelta, std, random);
      return {
        ...aggregate,
        meanDelta,
        metrics: { ...aggregate.metrics, "privacy.noiseStd": std, "privacy.cohort": options.cohort },
      };
    },
  };
}

export const DP_GAUSSIAN = defineStage({
  name: "dp-gaussian",
  options: {
    /** z of the update's noise: its std on the sum is z·C. */
    noiseMultiplier: z.number().positive(),
    /** The round's clipping norm C. */
    clipNorm: z.number().positive(),
    /** m: how many sites the round was sent to (the fixed denominator). */
    cohort: z.number().int().min(1),
  },
  aggregate: (options) => createDpGaussianStage(options),
});
