import { z } from "zod";
import { ErrorCode, FlError } from "../../errors.js";
import { addGaussianNoise, type RandomBytes } from "../../privacy/gaussian-noise.js";
import type { AggregateDraft, AggregateStage, UpdateDraft, UpdateStage } from "../pipeline.js";
import { siteNoiseStd } from "../secagg-dp.js";
import { createClipStage } from "./clip-l2.js";
import { defineStage } from "./define.js";

/** What the coordinator would learn about the un-noised update from the clip's own metrics. */
const UNNOISED_METRICS = ["clip.norm", "clip.clipped"] as const;

interface SiteNoiseOptions {
  /** C: each site's delta is clipped to this L2 norm. */
  readonly clipNorm: number;
  /** σ: the noise on any unmasked sum has std at least σC per coordinate. */
  readonly noiseMultiplier: number;
  /** t: the fewest masked inputs a sum of the round can have (the protocol's minSurvivors). */
  readonly survivors: number;
  /** m: how many sites the round was sent to (the fixed denominator). */
  readonly cohort: number;
}

/** A pipeline entry of this stage, as a task carries it. */
export type SiteNoiseConfig = SiteNoiseOptions & { readonly stage: "dp-site-noise" };

/** Finds the stage in a task's pipeline, where the site reads what its noise was sized for. */
export function isSiteNoise(config: { readonly stage: string }): config is SiteNoiseConfig {
  return config.stage === "dp-site-noise";
}

/**
 * The hospital's half of distributed DP (secagg-dp.ts): clip to C, add N(0, (σC)²/t) to every
 * coordinate from the CSPRNG, weigh the update 1 (DP-FedAvg's bounded weight: a site's
 * self-reported example count must not buy influence the noise does not cover). The clip's
 * norm and bit stay here: the coordinator sees nothing of the update before its noise.
 */
export function createSiteNoiseStage(options: SiteNoiseOptions, random?: RandomBytes): UpdateStage {
  const clip = createClipStage({ maxNorm: options.clipNorm });
  const std = siteNoiseStd(options);
  return {
    name: "dp-site-noise",
    apply(update: UpdateDraft, context): UpdateDraft {
      const clipped = clip.apply(update, context);
      const values = Float32Array.from(clipped.delta.values);
      addGaussianNoise(values, std, random);
      const metrics = { ...update.metrics };
      for (const key of UNNOISED_METRICS) delete metrics[key];
      return { delta: { manifest: clipped.delta.manifest, values }, numExamples: 1, metrics };
    },
  };
}

/**
 * The coordinator's half, on the unmasked mean: DP-FedAvg's fixed denominator (McMahan et al.
 * 2018), as central DP uses. Secure aggregation gives Σ/s over the s survivors; this returns
 * Σ/m over the m sites the round was sent to, so one site moves the result by at most C/m
 * whoever dropped out, and the sum's noise (std σC·√(s/t)) becomes σC·√(s/t)/m on the mean.
 * It refuses a sum of fewer than t inputs, which would carry less noise than promised (the
 * protocol aborts before that; this is the last check before anything is published).
 */
export function createSiteNoiseAggregateStage(options: SiteNoiseOptions): AggregateStage {
  return {
    name: "dp-site-noise",
    apply(aggregate: AggregateDraft): AggregateDraft {
      const { count } = aggregate;
      if (count < options.survivors || count > options.cohort)
        throw new FlError(
          ErrorCode.Internal,
          `dp-site-noise: a sum of ${count} noised updates in a round sent to ${options.cohort} sites whose sums were to have at least ${options.survivors}`,
        );
      if (aggregate.totalExamples !== count)
        throw new FlError(
          ErrorCode.FailedPrecondition,
          "dp-site-noise: the round's updates were not weighted equally (a site did not run the dp-site-noise stage, or the weight scale was not 1); the noise would not cover one site's influence",
        );
      const scale = count / options.cohort;
      const meanDelta = new Float32Array(aggregate.meanDelta.length);
      for (let i = 0; i < meanDelta.length; i++) meanDelta[i] = (aggregate.meanDelta[i] as number) * scale;
      const noiseStd = (siteNoiseStd(options) * Math.sqrt(count)) / options.cohort;
      return {
        ...aggregate,
        meanDelta,
        metrics: { ...aggregate.metrics, "privacy.noiseStd": noiseStd, "privacy.cohort": options.cohort },
      };
    },
  };
}

export const DP_SITE_NOISE = defineStage({
  name: "dp-site-noise",
  options: {
    clipNorm: z.number().positive(),
    noiseMultiplier: z.number().positive(),
    survivors: z.number().int().min(1),
    cohort: z.number().int().min(1),
  },
  client: (options) => createSiteNoiseStage(options),
  aggregate: createSiteNoiseAggregateStage,
});
