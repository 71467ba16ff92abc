import { expect, it } from "vitest";
import type { AggregateDraft, UpdateDraft } from "../../../shared/src/fl/pipeline.js";
import { createDpClipCoordinatorStage } from "../../../shared/src/fl/stages/dp-clip.js";
import { createDpGaussianStage } from "../../../shared/src/fl/stages/dp-gaussian.js";
import { buildPipeline } from "../../../shared/src/fl/stages/index.js";
import { createManifest } from "../../../shared/src/weights/index.js";

const context = { siteId: "a", round: 1, phase: "p" };

function draft(values: number[], metrics: Record<string, number> = {}): UpdateDraft {
  return {
    delta: {
      manifest: createManifest([{ name: "w", shape: [values.length] }]),
      values: Float32Array.from(values),
    },
    numExamples: 40,
    metrics,
  };
}

it("dp-clip: the site clips to C and reports the bit; the coordinator re-clips, weighs it 1 and records dp.unclipped", () => {
  const { client, coordinator } = buildPipeline([{ stage: "dp-clip", clipNorm: 1, adaptive: true }]);
  const sent = client[0]!.apply(draft([3, 4]), context); // norm 5 → (0.6, 0.8)
  expect([...sent.delta.values].map((v) => Number(v.toFixed(6)))).toEqual([0.6, 0.8]);
  expect(sent.metrics).toMatchObject({ "clip.norm": 5, "clip.clipped": 1 });
  const taken = coordinator[0]!.apply(sent, context);
  expect(taken.numExamples).toBe(1);
  expect(taken.metrics["dp.unclipped"]).toBe(0);
  const small = coordinator[0]!.apply(client[0]!.apply(draft([0.3, 0.4]), context), context);
  expect(small.metrics["dp.unclipped"]).toBe(1);
  expect([...small.delta.values]).toEqual([...Float32Array.from([0.3, 0.4])]);
  // A site that skipped its clip (claims a bit but sends norm 5) is clipped by the coordinator anyway.
  const cheat = createDpClipCoordinatorStage({ clipNorm: 1 }).apply(
    draft([3, 4], { "clip.clipped": 0 }),
    context,
  );
  expect(Math.hypot(...cheat.delta.values)).toBeCloseTo(1, 6);
});

it("dp-clip under adaptive clipping refuses an update without the client's clip bit: the stage ran on one side only", () => {
  expect(() =>
    createDpClipCoordinatorStage({ clipNorm: 1, adaptive: true }).apply(draft([0.1, 0.1]), context),
  ).toThrow(
    /carries no clip\.clipped bit, which adaptive clipping needs: the site did not run the dp-clip stage/,
  );
  // With a fixed C the coordinator's own clip is the guarantee: a site without metrics is clipped and taken.
  const taken = createDpClipCoordinatorStage({ clipNorm: 1 }).apply(draft([3, 4]), context);
  expect(Math.hypot(...taken.delta.values)).toBeCloseTo(1, 6);
  expect(taken.metrics).toEqual({});
});

function aggregate(mean: Float32Array, count: number, totalExamples = count): AggregateDraft {
  return {
    meanDelta: mean,
    count,
    totalExamples,
    manifest: createManifest([{ name: "w", shape: [mean.length] }]),
    metrics: {},
  };
}

it("dp-gaussian: sum over the cohort m (fixed denominator) plus N(0, (zC/m)²) noise, std measured", () => {
  const n = 200_000;
  const mean = new Float32Array(n).fill(0.5); // 3 of the 4 sampled sites arrived, each delta 0.5
  const z = 1.2;
  const clipNorm = 0.8;
  const cohort = 4;
  const out = createDpGaussianStage({ noiseMultiplier: z, clipNorm, cohort }).apply(aggregate(mean, 3), {
    round: 1,
    phase: "p",
  });
  const expectedMean = (0.5 * 3) / 4;
  let sum = 0;
  let squares = 0;
  for (const v of out.meanDelta) {
    sum += v - expectedMean;
    squares += (v - expectedMean) ** 2;
  }
  const std = Math.sqrt(squares / n);
  const expectedStd = (z * clipNorm) / cohort; // 0.24
  // Sample std of 2e5 normals: relative standard error 1/sqrt(2n) ≈ 0.16 %; 1 % is > 6 SE.
  expect(Math.abs(std / expectedStd - 1)).toBeLessThan(0.01);
  expect(Math.abs(sum / n)).toBeLessThan((5 * expectedStd) / Math.sqrt(n));
  expect(out.metrics).toEqual({ "privacy.noiseStd": expectedStd, "privacy.cohort": 4 });
});

it("dp-gaussian refuses example-weighted updates: the noise would not cover one site's weight", () => {
  const stage = createDpGaussianStage({ noiseMultiplier: 1, clipNorm: 1, cohort: 3 });
  expect(() => stage.apply(aggregate(new Float32Array(2), 3, 120), { round: 1, phase: "p" })).toThrow(
    /not weighted equally/,
  );
});
