import { distributedCodecClip } from "../../../shared/src/fl/secagg-dp.js";
import { type DpPlan, resolveDp } from "./dp-plan.js";

/** What secure aggregation needs of a plan to size its ring for distributed noise. */
export interface DistributedDpPlan {
  readonly privacy?: { readonly dp?: DpPlan | undefined } | undefined;
  readonly phases: readonly {
    readonly rounds: number;
    readonly pipeline: readonly { readonly stage: string }[];
  }[];
  readonly strategy: { readonly name: string };
}

/**
 * The codec clip the ring must keep under the plan's distributed DP (secagg-dp.ts: C plus 12
 * of the largest site noise std), or undefined when the plan has none or its DP block does not
 * resolve (resolveDp's own problems say why).
 */
export function distributedDpCodecClip(plan: DistributedDpPlan): number | undefined {
  const dp = plan.privacy?.dp;
  if (dp?.mode !== "distributed" || dp.clipNorm === undefined) return undefined;
  const resolved = resolveDp(dp, {
    rounds: plan.phases.reduce((sum, p) => sum + p.rounds, 0),
    strategy: plan.strategy.name,
    phasePipelines: plan.phases.map((p) => p.pipeline.map((s) => s.stage)),
    secureAggregation: true,
  });
  if ("problems" in resolved) return undefined;
  return distributedCodecClip({
    clipNorm: dp.clipNorm,
    noiseMultiplier: resolved.settings.updateNoiseMultiplier,
  });
}
