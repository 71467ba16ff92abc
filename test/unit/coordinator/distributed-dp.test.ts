import { describe, expect, it } from "vitest";
import { PlanSchema } from "../../../coordinator/src/plan.js";
import type { DpLedger } from "../../../coordinator/src/privacy/dp-ledger.js";
import { openDpLedger } from "../../../coordinator/src/privacy/dp-round.js";
import { SecureAggregationConfigSchema, secAggCodec } from "../../../coordinator/src/secagg-config.js";

/** ε of T rounds of the Gaussian mechanism (rate 1), from RDP Tα/(2z²) over orders 2…256, by the CKS 2020 conversion. */
function referenceEpsilon(rounds: number, z: number, delta: number): number {
  let best = Number.POSITIVE_INFINITY;
  for (let a = 2; a <= 256; a++)
    best = Math.min(
      best,
      (rounds * a) / (2 * z * z) + Math.log1p(-1 / a) - (Math.log(delta) + Math.log(a)) / (a - 1),
    );
  return best;
}

const phases = [{ name: "p", task: "classify", rounds: 4 }];

function distributedPlan(secureAggregation: Record<string, unknown> = {}, minSites = 3) {
  return PlanSchema.parse({
    phases,
    minSites,
    secureAggregation,
    privacy: { dp: { mode: "distributed", clipNorm: 0.5, noiseMultiplier: 1.2 } },
  });
}

describe("distributed DP in the ledger", () => {
  it("sends the site's clip-and-noise stage with t of the round's cohort, and promises the task distributed DP", () => {
    const ledger = openDpLedger(distributedPlan(), undefined) as DpLedger;
    const round = ledger.prepare(9, 9);
    // 9 sites: degree 2⌈log2 9⌉ = 8 (all pairs), threshold ⌊9/2⌋ + 1 = 5, minSurvivors max(3, 5).
    expect(round.survivorFloor).toBe(5);
    expect(round.stages).toEqual([
      { stage: "dp-site-noise", clipNorm: 0.5, noiseMultiplier: 1.2, survivors: 5, cohort: 9 },
    ]);
    expect(round.task.dp).toMatchObject({ mode: "distributed", noiseMultiplier: 1.2, clipNorm: 0.5 });
    // A plan's own minSurvivors is t.
    const strict = openDpLedger(distributedPlan({ minSurvivors: 7 }, 9), undefined) as DpLedger;
    expect(strict.prepare(9, 9).survivorFloor).toBe(7);
  });

  it("charges σ, never the larger effective σ·√(s/t), and reports both with the noise on the mean", () => {
    const ledger = openDpLedger(distributedPlan(), undefined) as DpLedger;
    const round = ledger.prepare(9, 9);
    // 8 of 9 survived: the sum carries 8 shares of (σC)²/5.
    const { state, metrics } = ledger.settle(round, { accepted: 8, unclippedFraction: undefined });
    expect(metrics["privacy.epsilon"]).toBeCloseTo(referenceEpsilon(1, 1.2, 1e-5), 2);
    expect(metrics["privacy.noiseMultiplier"]).toBe(1.2);
    expect(metrics["privacy.effectiveNoiseMultiplier"]).toBeCloseTo(1.2 * Math.sqrt(8 / 5), 12);
    expect(metrics["privacy.survivorFloor"]).toBe(5);
    expect(metrics["privacy.noiseStd"]).toBeCloseTo((1.2 * Math.sqrt(8 / 5) * 0.5) / 9, 12);
    ledger.adopt(state);
    const second = ledger.settle(ledger.prepare(9, 9), { accepted: 9, unclippedFraction: undefined });
    expect(second.metrics["privacy.epsilon"]).toBeCloseTo(referenceEpsilon(2, 1.2, 1e-5), 2);
  });
});

describe("the ring under distributed DP", () => {
  it("raises the codec clip to C + 12 stds of the largest share, and not for central DP or none", () => {
    const plan = distributedPlan({ clip: 0.25 });
    const config = SecureAggregationConfigSchema.parse({ clip: 0.25 });
    const codec = secAggCodec(config, plan);
    expect(codec.clip).toBeCloseTo(0.5 + (12 * 0.6) / Math.sqrt(3), 12);
    // 100 sites (maxCohort) × clip × 2^f ≤ 2^31 − 1.
    expect(100 * Math.ceil(codec.clip * 2 ** codec.fracBits)).toBeLessThanOrEqual(2 ** 31 - 1);
    expect(100 * Math.ceil(codec.clip * 2 ** (codec.fracBits + 1))).toBeGreaterThan(2 ** 31 - 1);
    // A clip already wider is kept.
    expect(
      secAggCodec(SecureAggregationConfigSchema.parse({ clip: 9 }), distributedPlan({ clip: 9 })).clip,
    ).toBe(9);
    expect(secAggCodec(config, PlanSchema.parse({ phases, minSites: 3, secureAggregation: {} })).clip).toBe(
      0.25,
    );
  });

  it("refuses fractional bits that overflow once the clip covers the noise, saying so", () => {
    const result = PlanSchema.safeParse({
      phases,
      minSites: 3,
      secureAggregation: { fracBits: 24 },
      privacy: { dp: { mode: "distributed", clipNorm: 1, noiseMultiplier: 1 } },
    });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.message).join()).toMatch(
      /the bit budget overflows: .*\(raised from 1 to [\d.]+ for distributed DP's noise\)/,
    );
  });
});
