import { describe, expect, it } from "vitest";
import type { AggregateDraft, UpdateDraft } from "../../../../../shared/src/fl/pipeline.js";
import {
  distributedCodecClip,
  guaranteedSurvivors,
  NOISE_TAIL_SIGMAS,
} from "../../../../../shared/src/fl/secagg-dp.js";
import {
  createSiteNoiseAggregateStage,
  createSiteNoiseStage,
} from "../../../../../shared/src/fl/stages/dp-site-noise.js";
import { buildPipeline, StageConfigSchema } from "../../../../../shared/src/fl/stages/index.js";
import type { RandomBytes } from "../../../../../shared/src/privacy/gaussian-noise.js";
import {
  checkBitBudget,
  decodeSum,
  encodeFixedPoint,
  maxFracBits,
} from "../../../../../shared/src/secagg/fixed-point.js";
import { createSecAggParams } from "../../../../../shared/src/secagg/params.js";
import { createManifest } from "../../../../../shared/src/weights/index.js";

const CONTEXT = { siteId: "a", round: 1, phase: "p" };
const LENGTH = 200_000;
const MANIFEST = createManifest([{ name: "w", shape: [LENGTH] }]);

/** u = 1 for every uniform: Box–Muller's radius is 0, so the "noise" is exactly 0. */
const noNoise: RandomBytes = (out) => {
  out.fill(0xffffffff);
};

function draft(values: Float32Array): UpdateDraft {
  return {
    delta: { manifest: MANIFEST, values },
    numExamples: 40,
    metrics: { loss: 0.5, "clip.norm": 9, "clip.clipped": 1 },
  };
}

function sampleVariance(values: ArrayLike<number>): { mean: number; variance: number } {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i] as number;
  const mean = sum / values.length;
  let squares = 0;
  for (let i = 0; i < values.length; i++) squares += ((values[i] as number) - mean) ** 2;
  return { mean, variance: squares / (values.length - 1) };
}

describe("the dp-site-noise stage at the site", () => {
  it("clips to C, weighs the update 1 and keeps the clip's norm and bit at the site", () => {
    // Every coordinate 0.01: ‖Δ‖ = 0.01·√200000 ≈ 4.47, clipped to C = 0.5.
    const stage = createSiteNoiseStage(
      { clipNorm: 0.5, noiseMultiplier: 1, survivors: 3, cohort: 3 },
      noNoise,
    );
    const out = stage.apply(draft(new Float32Array(LENGTH).fill(0.01)), CONTEXT);
    expect(out.numExamples).toBe(1);
    expect(out.metrics).toEqual({ loss: 0.5 });
    expect(out.delta.values[7]).toBeCloseTo(0.5 / Math.sqrt(LENGTH), 9);
  });

  it("adds noise of variance (σC)²/t per coordinate, centred on the clipped delta", () => {
    // σ = 2, C = 0.75, t = 4: std σC/√t = 0.75, variance 0.5625. The delta is within C.
    const delta = new Float32Array(LENGTH).fill(0.001);
    const out = createSiteNoiseStage({ clipNorm: 0.75, noiseMultiplier: 2, survivors: 4, cohort: 6 }).apply(
      draft(delta),
      CONTEXT,
    );
    const { mean, variance } = sampleVariance(out.delta.values);
    // 200 000 draws: the sample variance's relative standard error is √(2/n) ≈ 0.32 %, so a 3 %
    // tolerance is about 9 standard errors; the mean's standard error is 0.75/√n ≈ 0.0017.
    expect(variance / 0.5625).toBeGreaterThan(0.97);
    expect(variance / 0.5625).toBeLessThan(1.03);
    expect(Math.abs(mean - 0.001)).toBeLessThan(0.012);
  });

  it("is named by a task's pipeline and has parts on the site and on the aggregate only", () => {
    const config = StageConfigSchema.parse({
      stage: "dp-site-noise",
      clipNorm: 1,
      noiseMultiplier: 1,
      survivors: 3,
      cohort: 5,
    });
    const pipeline = buildPipeline([config]);
    expect([pipeline.client.length, pipeline.coordinator.length, pipeline.aggregate.length]).toEqual([
      1, 0, 1,
    ]);
    expect(() =>
      StageConfigSchema.parse({
        stage: "dp-site-noise",
        clipNorm: 1,
        noiseMultiplier: 0,
        survivors: 3,
        cohort: 5,
      }),
    ).toThrow(/noiseMultiplier/);
  });
});

describe("the dp-site-noise stage on the unmasked mean", () => {
  const options = { clipNorm: 1, noiseMultiplier: 1.5, survivors: 3, cohort: 5 };
  function aggregate(count: number, totalExamples = count): AggregateDraft {
    return {
      meanDelta: Float32Array.from([0.4, -0.2]),
      count,
      totalExamples,
      manifest: createManifest([{ name: "w", shape: [2] }]),
      metrics: { "secagg.survivors": count },
    };
  }

  it("divides the sum by the cohort (the fixed denominator) and states the noise on the mean", () => {
    // 4 survivors of 5: the survivors' mean 0.4 is a sum of 1.6, which over m = 5 is 0.32.
    const out = createSiteNoiseAggregateStage(options).apply(aggregate(4), { round: 1, phase: "p" });
    expect(out.meanDelta[0]).toBeCloseTo(0.32, 6);
    expect(out.meanDelta[1]).toBeCloseTo(-0.16, 6);
    // Four shares of variance (1.5·1)²/3: std 1.5·√(4/3) on the sum, over 5.
    expect(out.metrics["privacy.noiseStd"]).toBeCloseTo((1.5 * Math.sqrt(4 / 3)) / 5, 12);
    expect(out.metrics).toMatchObject({ "privacy.cohort": 5, "secagg.survivors": 4 });
  });

  it("refuses a sum of fewer than t inputs or of unequal weights", () => {
    const stage = createSiteNoiseAggregateStage(options);
    expect(() => stage.apply(aggregate(2), { round: 1, phase: "p" })).toThrow(
      /a sum of 2 noised updates .* were to have at least 3/,
    );
    expect(() => stage.apply(aggregate(4, 120), { round: 1, phase: "p" })).toThrow(/not weighted equally/);
  });
});

describe("the survivor floor t and the ring under distributed noise", () => {
  it("gives the minSurvivors the protocol's parameters get, for every cohort size", () => {
    const base = {
      session: "s",
      round: 1,
      vectorLength: 4,
      graphSeed: "ab".repeat(32),
      clip: 1,
      fracBits: 16,
    };
    for (let n = 3; n <= 60; n++) {
      const cohort = Array.from({ length: n }, (_, i) => `s${i}`);
      expect(guaranteedSurvivors(n), `n = ${n}`).toBe(createSecAggParams({ ...base, cohort }).minSurvivors);
      const threshold = Math.min(n, Math.floor(n / 2) + 2);
      const set = { degree: n - 1, threshold, minSurvivors: Math.max(3, threshold) };
      expect(guaranteedSurvivors(n, set)).toBe(createSecAggParams({ ...base, cohort, ...set }).minSurvivors);
    }
  });

  it("sizes the codec clip for C plus 12 stds of the largest share, and that fits the bit budget", () => {
    // C = 0.5, σ = 1.2, t = 3 (the floor): std 0.6/√3; the clip is C + 12 of them.
    const clip = distributedCodecClip({ clipNorm: 0.5, noiseMultiplier: 1.2 });
    expect(clip).toBeCloseTo(0.5 + (NOISE_TAIL_SIGMAS * 0.6) / Math.sqrt(3), 12);
    const fracBits = maxFracBits(clip, 100);
    expect(() => checkBitBudget({ clip, fracBits }, 100)).not.toThrow();
    expect(() => checkBitBudget({ clip, fracBits: fracBits + 1 }, 100)).toThrow(/bit budget overflows/);
  });

  it("keeps a noised update whole through the codec: no value is cut, the sum decodes within the step", () => {
    const options = { clipNorm: 0.5, noiseMultiplier: 1.2, survivors: 3, cohort: 3 };
    const clip = distributedCodecClip(options);
    const codec = { clip, fracBits: maxFracBits(clip, 3) };
    const stage = createSiteNoiseStage(options);
    const inputs = [0.002, -0.001, 0.0005].map(
      (fill) => stage.apply(draft(new Float32Array(LENGTH).fill(fill)), CONTEXT).delta.values,
    );
    const ring = new Uint32Array(LENGTH);
    for (const values of inputs) {
      const largest = values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      // A codec clipped at C alone would cut the noise (C is 1.44 of its stds)…
      expect(largest).toBeGreaterThan(options.clipNorm);
      // …the raised clip does not.
      expect(largest).toBeLessThan(clip);
      const encoded = encodeFixedPoint(values, codec);
      for (let i = 0; i < LENGTH; i++) ring[i] = ((ring[i] as number) + (encoded[i] as number)) >>> 0;
    }
    const sum = decodeSum(ring, codec);
    const step = 2 ** -codec.fracBits;
    let worst = 0;
    for (let i = 0; i < LENGTH; i++) {
      const plain = (inputs[0]?.[i] as number) + (inputs[1]?.[i] as number) + (inputs[2]?.[i] as number);
      worst = Math.max(worst, Math.abs((sum[i] as number) - plain));
    }
    expect(worst).toBeLessThanOrEqual(1.5 * step);
    // The sum of three shares has variance (σC)² = 0.36, the central mechanism's.
    expect(sampleVariance(sum).variance / 0.36).toBeGreaterThan(0.97);
    expect(sampleVariance(sum).variance / 0.36).toBeLessThan(1.03);
  });
});
