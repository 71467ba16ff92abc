import { defaultDegree, defaultThreshold } from "../secagg/graph.js";
import { MIN_SURVIVORS_FLOOR } from "../secagg/params.js";

/**
 * Distributed DP-FedAvg under secure aggregation: each site clips its delta to C and adds its
 * share of the Gaussian noise before the fixed-point encoding, so the coordinator only ever
 * unmasks a sum that is already noised. The round's protocol aborts, revealing nothing, below
 * `minSurvivors` masked inputs, so a sum always has at least t = minSurvivors shares of noise:
 * each site adds N(0, (σC)²/t) per coordinate and any unmasked sum carries variance at least
 * (σC)², the central mechanism's. With s ≥ t survivors it carries s/t times that.
 */

/** What a plan's secure aggregation sets of the protocol's survivor floor. */
export interface SurvivorOptions {
  readonly degree?: number | undefined;
  readonly threshold?: number | undefined;
  readonly minSurvivors?: number | undefined;
}

/**
 * t for a cohort of `cohort` sites: the `minSurvivors` that createSecAggParams gives the round's
 * parameters with these options. Each site checks the round's actual parameters against it
 * (secagg-session.ts), so a coordinator that lowered the floor is refused, not trusted.
 */
export function guaranteedSurvivors(cohort: number, options: SurvivorOptions = {}): number {
  const degree = options.degree ?? defaultDegree(cohort);
  const threshold = options.threshold ?? defaultThreshold(degree);
  return options.minSurvivors ?? Math.max(MIN_SURVIVORS_FLOOR, threshold);
}

/** The std of one site's noise per coordinate: σC/√t. */
export function siteNoiseStd(options: {
  noiseMultiplier: number;
  clipNorm: number;
  survivors: number;
}): number {
  return (options.noiseMultiplier * options.clipNorm) / Math.sqrt(options.survivors);
}

/** σ·√(s/t): the noise multiplier the sum of s ≥ t noised updates actually carries. */
export function effectiveNoiseMultiplier(noiseMultiplier: number, survivors: number, floor: number): number {
  return noiseMultiplier * Math.sqrt(survivors / floor);
}

/**
 * How many standard deviations of a site's noise the ring keeps. The codec clips every value
 * to its range, which would cut the noise's tails and with them the Gaussian guarantee; at 12σ
 * a draw is cut with probability 2Φ(−12) ≈ 3.6·10⁻³³, so even 10¹⁵ draws (25M parameters ×
 * 100 sites × 400 000 rounds) cut one with probability below 10⁻¹⁷, added to δ and negligible
 * beside any δ a plan may set. Twelve σ cost log2(1 + 12σ/√3) bits of the 32-bit ring.
 */
export const NOISE_TAIL_SIGMAS = 12;

/**
 * The smallest codec clip (largest |value| the ring keeps) that never cuts a noised coordinate
 * within NOISE_TAIL_SIGMAS: |Δᵢ| ≤ ‖Δ‖ ≤ C, plus 12 site stds. t is at least the protocol's
 * floor of 3, whose std is the largest, so one bound serves every cohort of the plan.
 */
export function distributedCodecClip(options: { clipNorm: number; noiseMultiplier: number }): number {
  const worstStd = siteNoiseStd({ ...options, survivors: MIN_SURVIVORS_FLOOR });
  return options.clipNorm + NOISE_TAIL_SIGMAS * worstStd;
}
