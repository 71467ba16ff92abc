import { z } from "zod";
import { checkBitBudget, maxFracBits } from "../../shared/src/secagg/fixed-point.js";
import { MIN_SURVIVORS_FLOOR } from "../../shared/src/secagg/params.js";
import { type DistributedDpPlan, distributedDpCodecClip } from "./privacy/distributed-dp.js";

/**
 * `secureAggregation` in a plan: the coordinator then sees only the sum of each round's updates
 * (shared/src/secagg). Absent: plain FedAvg, each update opened alone.
 */
export const SecureAggregationConfigSchema = z
  .object({
    /**
     * Largest |w·Δ| per coordinate a site's update keeps (w ≤ 1 is its share of the examples);
     * larger values are clipped. Bounds the ring's bit budget with the cohort size.
     */
    clip: z.number().positive().default(1),
    /** Fractional bits of the fixed-point codec; default: the most the bit budget allows for maxCohort. */
    fracBits: z.number().int().min(0).max(30).optional(),
    /** The largest cohort a round may have: the bit budget is checked for it. */
    maxCohort: z.number().int().min(MIN_SURVIVORS_FLOOR).max(100_000).default(100),
    /** Neighbours per site in the SecAgg+ graph; default: about 2·log2 n (all pairs for small n). */
    degree: z.number().int().min(2).optional(),
    /** Shares that reconstruct a secret; default: a strict majority of each neighbourhood. */
    threshold: z.number().int().min(2).optional(),
    /** Fewest sites that may remain at any stage; below it the round aborts with nothing revealed. */
    minSurvivors: z.number().int().min(MIN_SURVIVORS_FLOOR).optional(),
    /** How long each protocol stage after training waits for the sites still in the round. */
    stageTimeoutSec: z.number().positive().default(60),
  })
  .strict();
export type SecureAggregationConfig = z.infer<typeof SecureAggregationConfigSchema>;

/** The strategies whose server step needs only the mean delta, which is all secure aggregation gives. */
export const SECAGG_STRATEGIES: readonly string[] = ["fedavg", "fedavgm", "fedadam", "fedyogi"];

/** The codec's fractional bits: the configured ones, or the most that fit maxCohort sites. */
export function secAggFracBits(config: SecureAggregationConfig): number {
  return secAggCodec(config).fracBits;
}

/** What a plan with secure aggregation may also say that sizes its ring. */
export type SecAggPlanParts = Partial<DistributedDpPlan>;

/**
 * The round's fixed-point codec. Under distributed DP the clip is raised (never lowered) to
 * cover each site's clipped delta plus its noise share's tails (shared/src/fl/secagg-dp.ts),
 * so the ring never cuts the noise; the default fractional bits follow from that clip.
 */
export function secAggCodec(
  config: SecureAggregationConfig,
  plan: SecAggPlanParts = {},
): { clip: number; fracBits: number } {
  const noised =
    plan.phases && plan.strategy
      ? distributedDpCodecClip({ ...plan, phases: plan.phases, strategy: plan.strategy })
      : undefined;
  const clip = noised === undefined ? config.clip : Math.max(config.clip, noised);
  return { clip, fracBits: config.fracBits ?? maxFracBits(clip, config.maxCohort) };
}

/** Problems of a plan's secure aggregation, as [path, message] pairs (empty when it fits). */
export function secAggPlanProblems(
  plan: SecAggPlanParts & {
    readonly secureAggregation?: SecureAggregationConfig | undefined;
    readonly strategy: { readonly name: string };
    readonly minSites: number;
    readonly roundTimeoutSec: number;
  },
): [string, string][] {
  const config = plan.secureAggregation;
  if (!config) return [];
  const problems: [string, string][] = [];
  if (!SECAGG_STRATEGIES.includes(plan.strategy.name))
    problems.push([
      "strategy",
      `${plan.strategy.name} needs each site's update, but secure aggregation reveals only their sum; ` +
        `use ${SECAGG_STRATEGIES.join(", ")} with secureAggregation, or drop secureAggregation`,
    ]);
  if (plan.minSites < MIN_SURVIVORS_FLOOR)
    problems.push([
      "minSites",
      `secure aggregation needs at least ${MIN_SURVIVORS_FLOOR} sites a round (one site's "sum" is its update); raise minSites to ${MIN_SURVIVORS_FLOOR}`,
    ]);
  const smallest = Math.max(plan.minSites, MIN_SURVIVORS_FLOOR);
  if (config.threshold !== undefined && config.threshold > smallest)
    problems.push([
      "secureAggregation.threshold",
      `threshold ${config.threshold} is above the smallest cohort a round may run with (minSites ${plan.minSites}): ` +
        `such a round could never reconstruct; lower it to ${smallest} or raise minSites`,
    ]);
  if (config.minSurvivors !== undefined && config.minSurvivors > smallest)
    problems.push([
      "secureAggregation.minSurvivors",
      `minSurvivors ${config.minSurvivors} is above the smallest cohort (minSites ${plan.minSites}); lower it or raise minSites`,
    ]);
  if (config.maxCohort < plan.minSites)
    problems.push([
      "secureAggregation.maxCohort",
      `maxCohort ${config.maxCohort} is below minSites ${plan.minSites}`,
    ]);
  const codec = secAggCodec(config, plan);
  const noised =
    codec.clip > config.clip
      ? ` (raised from ${config.clip} to ${Number(codec.clip.toPrecision(4))} for distributed DP's noise)`
      : "";
  if (codec.fracBits < 0)
    problems.push([
      "secureAggregation.clip",
      `clip ${codec.clip}${noised} is too large for ${config.maxCohort} sites even without fractional bits; lower ${noised ? "clipNorm or the noise" : "clip"} or maxCohort`,
    ]);
  else {
    try {
      checkBitBudget(codec, config.maxCohort);
    } catch (error) {
      problems.push(["secureAggregation.fracBits", `${(error as Error).message}${noised}`]);
    }
  }
  if (plan.roundTimeoutSec <= 4 * config.stageTimeoutSec)
    problems.push([
      "secureAggregation.stageTimeoutSec",
      `the round (roundTimeoutSec ${plan.roundTimeoutSec}) must leave time for training and the four protocol stages: ` +
        `make roundTimeoutSec more than 4 × stageTimeoutSec (${4 * config.stageTimeoutSec})`,
    ]);
  return problems;
}
