import { z } from "zod";
import type { SurvivorOptions } from "../../../shared/src/fl/secagg-dp.js";
import { noiseMultiplierFor, RdpAccountant } from "../../../shared/src/privacy/rdp-accountant.js";

/**
 * `privacy.dp` in a plan: DP-FedAvg (McMahan et al. 2018) over the whole federation. It is one
 * block for the federation, not one per phase, because the guarantee is about a hospital's data
 * over everything the federation releases: the accountant composes every training round of every
 * phase into one (ε, δ), and one budget bounds them all. The unit of privacy is a hospital (a
 * site's whole update), not a patient.
 */
export const DpPlanSchema = z
  .strictObject({
    /**
     * central: the coordinator adds the noise; distributed: each site clips and adds its share
     * under secure aggregation (a fixed clipNorm only), so no party sees an un-noised sum.
     */
    mode: z.enum(["central", "distributed"]).default("central"),
    /** A fixed clipping norm C of each site's update (L2). */
    clipNorm: z.number().positive().optional(),
    /** Or C adapted each round towards a quantile of the sites' update norms (Andrew et al. 2021). */
    adaptiveClip: z
      .strictObject({
        /** γ: the fraction of sites whose update should be within C. */
        targetQuantile: z.number().gt(0).lt(1).default(0.5),
        /** η of C ← C·exp(−η(b̄ − γ)). */
        learningRate: z.number().positive().max(10).default(0.2),
        /** C of the first round. */
        initialNorm: z.number().positive(),
        /**
         * σ_b, the std of the noise on the count of unclipped sites. Default 2·z, which raises the
         * update's own noise multiplier by 3 % (Andrew et al., Thm. 1); it must exceed z/2.
         */
        countNoise: z.number().positive().optional(),
      })
      .optional(),
    /** The noise multiplier z (std of the noise on the sum of updates is z·C). */
    noiseMultiplier: z.number().positive().optional(),
    /** Or the ε to reach after all of the plan's rounds: z is then the smallest that does. */
    targetEpsilon: z.number().positive().optional(),
    /** δ of the (ε, δ) guarantee; keep it well below 1 / number of hospitals. */
    delta: z.number().gt(0).lt(1).default(1e-5),
    /** The federation ends cleanly before a round that would take ε past this. */
    budget: z.number().positive().optional(),
  })
  .superRefine((dp, context) => {
    const issue = (path: string, message: string) =>
      context.addIssue({ code: "custom", path: [path], message });
    if ((dp.clipNorm === undefined) === (dp.adaptiveClip === undefined))
      issue("clipNorm", "set exactly one of clipNorm (a fixed clipping norm) and adaptiveClip");
    if ((dp.noiseMultiplier === undefined) === (dp.targetEpsilon === undefined))
      issue("noiseMultiplier", "set exactly one of noiseMultiplier and targetEpsilon");
  });
export type DpPlan = z.infer<typeof DpPlanSchema>;

/** `privacy` in a plan. */
export const PlanPrivacySchema = z.strictObject({ dp: DpPlanSchema.optional() });

/** What the rounds need of a plan's DP block, with the noise multiplier resolved. */
export interface DpSettings {
  readonly mode: "central" | "distributed";
  /**
   * Distributed mode: the plan's secure-aggregation options that fix t, the fewest masked inputs
   * a round's sum has (secagg-dp.ts), from each round's cohort.
   */
  readonly survivors?: SurvivorOptions;
  /** z the accountant charges each round for (the delta and the clip count together). */
  readonly noiseMultiplier: number;
  /** z of the update's own noise: z itself with a fixed C, a little more with adaptive clipping. */
  readonly updateNoiseMultiplier: number;
  readonly delta: number;
  readonly budget?: number;
  readonly clip:
    | { readonly kind: "fixed"; readonly norm: number }
    | {
        readonly kind: "adaptive";
        readonly initialNorm: number;
        readonly targetQuantile: number;
        readonly learningRate: number;
        readonly countNoise: number;
      };
}

/** Stages the coordinator adds each round under DP; a plan may not list them itself. */
export const DP_STAGE_NAMES: readonly string[] = ["dp-clip", "dp-gaussian", "dp-site-noise"];

/**
 * The plan's DP settings, or problems as "path: message" lines. `rounds` is the plan's total;
 * `strategy` its aggregation. A `targetEpsilon` picks z for sampling rate 1 (every hospital in
 * every round): the coordinator cannot know at load time how many sites will enrol and connect,
 * and with fewer sampled the rounds cost less, never more, than planned.
 */
export function resolveDp(
  dp: DpPlan,
  plan: {
    rounds: number;
    strategy: string;
    phasePipelines: readonly (readonly string[])[];
    /** Whether the plan has secure aggregation; its survivor options, where known, fix t of distributed noise. */
    secureAggregation?: boolean | SurvivorOptions | undefined;
  },
): { settings: DpSettings } | { problems: string[] } {
  const problems: string[] = [];
  const at = (path: string, message: string) => problems.push(`plan.privacy.dp.${path}: ${message}`);
  if (dp.mode === "distributed") {
    if (!plan.secureAggregation)
      at(
        "mode",
        "distributed noise needs secure aggregation (plan.secureAggregation): each site adds only a share of the noise, so without it the coordinator would see each lightly noised update alone; add secureAggregation or use mode central",
      );
    if (dp.adaptiveClip)
      at(
        "adaptiveClip",
        "adaptive clipping needs each site's clip bit, which the coordinator cannot see under secure aggregation: use a fixed clipNorm with mode distributed",
      );
  } else if (plan.secureAggregation)
    at(
      "mode",
      "central DP re-clips and weighs every update on the coordinator, which secure aggregation hides from it: use mode distributed (each site clips and adds its share of the noise) with secureAggregation, or central DP without it",
    );
  if (!MEAN_STRATEGIES.has(plan.strategy))
    problems.push(
      `plan.strategy: differential privacy's noise is calibrated to a mean of clipped updates; "${plan.strategy}" is not one (use fedavg, fedavgm, fedadam or fedyogi)`,
    );
  plan.phasePipelines.forEach((stages, i) => {
    for (const name of stages)
      if (DP_STAGE_NAMES.includes(name))
        problems.push(
          `plan.phases.${i}.pipeline: "${name}" is added by the coordinator under privacy.dp, with the accountant's values; remove it and configure privacy.dp`,
        );
  });
  let z = dp.noiseMultiplier;
  if (dp.targetEpsilon !== undefined) {
    z = noiseMultiplierFor(dp.targetEpsilon, dp.delta, 1, plan.rounds);
    if (z === undefined)
      at(
        "targetEpsilon",
        `ε ${dp.targetEpsilon} at δ ${dp.delta} cannot be reached over ${plan.rounds} rounds, not even with noise multiplier 1000: raise targetEpsilon or δ, or plan fewer rounds`,
      );
    if (dp.budget !== undefined && dp.budget < dp.targetEpsilon)
      at(
        "budget",
        `the budget ε ${dp.budget} is below targetEpsilon ${dp.targetEpsilon}: the plan could never finish`,
      );
  }
  if (z === undefined) return { problems };
  if (dp.budget !== undefined) {
    const first = new RdpAccountant().epsilonAfter(1, z, 1, dp.delta);
    if (first > dp.budget)
      at(
        "budget",
        `one round at noise multiplier ${round3(z)} already spends ε ${round3(first)} at δ ${dp.delta}, more than the budget ${dp.budget}: raise the budget or the noise`,
      );
  }
  let updateNoiseMultiplier = z;
  let clip: DpSettings["clip"] | undefined;
  if (dp.adaptiveClip) {
    const { initialNorm, targetQuantile, learningRate } = dp.adaptiveClip;
    const countNoise = dp.adaptiveClip.countNoise ?? 2 * z;
    // Andrew et al. 2021, Thm. 1: releasing the noised count with std σ_b and the update with
    // z_Δ is one Gaussian mechanism with z = (z_Δ⁻² + (2σ_b)⁻²)^(−1/2); so z_Δ from z and σ_b.
    const rest = z ** -2 - (2 * countNoise) ** -2;
    if (!(rest > 0))
      at("adaptiveClip.countNoise", `must exceed z/2 = ${round3(z / 2)} (it is ${countNoise})`);
    else updateNoiseMultiplier = rest ** -0.5;
    clip = { kind: "adaptive", initialNorm, targetQuantile, learningRate, countNoise };
  } else if (dp.clipNorm !== undefined) clip = { kind: "fixed", norm: dp.clipNorm };
  if (problems.length > 0 || !clip) return { problems };
  return {
    settings: {
      mode: dp.mode,
      ...(dp.mode === "distributed" && {
        survivors: typeof plan.secureAggregation === "object" ? survivorOptions(plan.secureAggregation) : {},
      }),
      noiseMultiplier: z,
      updateNoiseMultiplier,
      delta: dp.delta,
      ...(dp.budget !== undefined && { budget: dp.budget }),
      clip,
    },
  };
}

function survivorOptions(config: SurvivorOptions): SurvivorOptions {
  const { degree, threshold, minSurvivors } = config;
  return {
    ...(degree !== undefined && { degree }),
    ...(threshold !== undefined && { threshold }),
    ...(minSurvivors !== undefined && { minSurvivors }),
  };
}

const MEAN_STRATEGIES: ReadonlySet<string> = new Set(["fedavg", "fedavgm", "fedadam", "fedyogi"]);

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
