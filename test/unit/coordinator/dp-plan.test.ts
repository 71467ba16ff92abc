import { expect, it } from "vitest";
import { PlanSchema } from "../../../coordinator/src/plan.js";
import { resolveDp } from "../../../coordinator/src/privacy/dp-plan.js";

const phases = [{ name: "p", task: "classify", rounds: 10 }];

function problems(dp: object, extra: object = {}): string[] {
  const result = PlanSchema.safeParse({ phases, privacy: { dp }, ...extra });
  return result.success ? [] : result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
}

it("takes a fixed clip with a noise multiplier, δ defaulting to 1e-5, and keeps plans without DP as they were", () => {
  const plan = PlanSchema.parse({ phases, privacy: { dp: { clipNorm: 1, noiseMultiplier: 1.1 } } });
  expect(plan.privacy?.dp).toEqual({ mode: "central", clipNorm: 1, noiseMultiplier: 1.1, delta: 1e-5 });
  expect(PlanSchema.parse({ phases }).privacy).toBeUndefined();
});

it("refuses an ε the accountant can never reach, naming what to change", () => {
  expect(problems({ clipNorm: 1, targetEpsilon: 1e-4, delta: 1e-12 }).join("\n")).toMatch(
    /plan\.privacy\.dp\.targetEpsilon: ε 0\.0001 at δ 1e-12 cannot be reached over 10 rounds, not even with noise multiplier 1000/,
  );
});

it("refuses δ outside (0, 1), both or neither of clip and noise, and a zero noise multiplier", () => {
  expect(problems({ clipNorm: 1, noiseMultiplier: 1, delta: 1 }).join()).toMatch(/privacy\.dp\.delta/);
  expect(problems({ clipNorm: 1, noiseMultiplier: 1, delta: 0 }).join()).toMatch(/privacy\.dp\.delta/);
  expect(problems({ noiseMultiplier: 1 }).join()).toMatch(/set exactly one of clipNorm .* and adaptiveClip/);
  expect(problems({ clipNorm: 1, adaptiveClip: { initialNorm: 1 }, noiseMultiplier: 1 }).join()).toMatch(
    /set exactly one of clipNorm/,
  );
  expect(problems({ clipNorm: 1 }).join()).toMatch(/set exactly one of noiseMultiplier and targetEpsilon/);
  expect(problems({ clipNorm: 1, noiseMultiplier: 0 }).join()).toMatch(/noiseMultiplier/);
});

it("refuses distributed noise while secure aggregation does not carry it", () => {
  expect(problems({ mode: "distributed", clipNorm: 1, noiseMultiplier: 1 }).join()).toMatch(
    /plan\.privacy\.dp\.mode: distributed noise needs secure aggregation.*use mode central/,
  );
});

it("refuses central DP under secure aggregation, which hides the updates the coordinator must re-clip", () => {
  expect(problems({ clipNorm: 1, noiseMultiplier: 1 }, { secureAggregation: {} }).join()).toMatch(
    /central DP re-clips and weighs every update on the coordinator, which secure aggregation hides/,
  );
  expect(problems({ clipNorm: 1, noiseMultiplier: 1 }, { secureAggregation: {} }).join()).toMatch(
    /use mode distributed \(each site clips and adds its share of the noise\) with secureAggregation/,
  );
});

it("takes distributed noise under secure aggregation with a fixed clip, and refuses adaptive clipping there", () => {
  const secagg = { secureAggregation: {}, minSites: 3 };
  expect(problems({ mode: "distributed", clipNorm: 1, noiseMultiplier: 1 }, secagg)).toEqual([]);
  expect(
    problems({ mode: "distributed", adaptiveClip: { initialNorm: 1 }, noiseMultiplier: 1 }, secagg).join(),
  ).toMatch(
    /adaptiveClip: adaptive clipping needs each site's clip bit, .* use a fixed clipNorm with mode distributed/,
  );
});

it("refuses a budget the first round already spends, and robust strategies that are no mean", () => {
  expect(problems({ clipNorm: 1, noiseMultiplier: 0.5, budget: 1 }).join()).toMatch(
    /one round at noise multiplier 0\.5 already spends ε [\d.]+ at δ 0\.00001, more than the budget 1/,
  );
  expect(problems({ clipNorm: 1, noiseMultiplier: 1 }, { strategy: { name: "median" } }).join()).toMatch(
    /plan\.strategy: .*"median" is not one/,
  );
  expect(
    problems(
      { clipNorm: 1, noiseMultiplier: 1 },
      {
        phases: [
          { ...phases[0], pipeline: [{ stage: "dp-gaussian", noiseMultiplier: 1, clipNorm: 1, cohort: 3 }] },
        ],
      },
    ).join(),
  ).toMatch(/"dp-gaussian" is added by the coordinator under privacy\.dp/);
});

it("splits z between the update and the clip count as Andrew et al. 2021 Thm. 1 says", () => {
  const dp = {
    mode: "central",
    adaptiveClip: { initialNorm: 1, targetQuantile: 0.5, learningRate: 0.2, countNoise: 2 },
    noiseMultiplier: 1,
    delta: 1e-5,
  } as const;
  const resolved = resolveDp(dp, { rounds: 3, strategy: "fedavg", phasePipelines: [[]] });
  if (!("settings" in resolved)) throw new Error(resolved.problems.join());
  // 1/z² = 1/z_Δ² + 1/(2σ_b)² → z_Δ = (1 − 1/16)^(−1/2).
  expect(resolved.settings.updateNoiseMultiplier).toBeCloseTo(1 / Math.sqrt(1 - 1 / 16), 12);
  const tooSmall = resolveDp(
    { ...dp, adaptiveClip: { ...dp.adaptiveClip, countNoise: 0.4 } },
    {
      rounds: 3,
      strategy: "fedavg",
      phasePipelines: [[]],
    },
  );
  expect("problems" in tooSmall && tooSmall.problems.join()).toMatch(/countNoise: must exceed z\/2 = 0\.5/);
});

it("picks for targetEpsilon the z that spends just that ε over the plan's rounds at sampling rate 1", () => {
  const resolved = resolveDp(
    { mode: "central", clipNorm: 1, targetEpsilon: 8, delta: 1e-5 },
    { rounds: 10, strategy: "fedavg", phasePipelines: [[]] },
  );
  if (!("settings" in resolved)) throw new Error(resolved.problems.join());
  const z = resolved.settings.noiseMultiplier;
  // Independently: the Gaussian mechanism composed 10 times has RDP 10α/(2z²); convert at δ.
  const epsilonAt = (sigma: number) =>
    Math.min(
      ...Array.from({ length: 255 }, (_, i) => i + 2).map(
        (a) => (10 * a) / (2 * sigma ** 2) + Math.log1p(-1 / a) - (Math.log(1e-5) + Math.log(a)) / (a - 1),
      ),
    );
  expect(epsilonAt(z)).toBeLessThanOrEqual(8 + 1e-9);
  expect(epsilonAt(z * 0.99)).toBeGreaterThan(8);
});
