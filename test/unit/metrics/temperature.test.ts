import { describe, expect, it } from "vitest";
import {
  computeSiteStatistics,
  DEFAULT_TEMPERATURES,
  summariseStatistics,
} from "../../../shared/src/metrics/index.js";
import { logProbabilities, temperedNllSum } from "../../../shared/src/metrics/temperature.js";
import { Rng } from "../../../shared/src/random.js";
import { softmax } from "./synthetic.js";

/** Logits z, labels drawn from softmax(z), and the probabilities a model miscalibrated by k reports: softmax(k·z). */
function miscalibrated(
  n: number,
  k: number,
  seed: number,
): { probabilities: Float64Array; labels: Int32Array } {
  const rng = new Rng(seed);
  const probabilities = new Float64Array(n * 4);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const z = [0, 1, 2, 3].map(() => 1.5 * rng.normal());
    labels[i] = rng.categorical(softmax(z));
    probabilities.set(softmax(z.map((v) => v * k)), i * 4);
  }
  return { probabilities, labels };
}

describe("temperature scaling", () => {
  it("uses 25 log-spaced temperatures from 0.25 to 4 with exactly 1 among them", () => {
    expect(DEFAULT_TEMPERATURES).toHaveLength(25);
    expect(DEFAULT_TEMPERATURES[0]).toBe(0.25);
    expect(DEFAULT_TEMPERATURES[24]).toBe(4);
    expect(DEFAULT_TEMPERATURES).toContain(1);
    for (let i = 1; i < 25; i++) {
      expect((DEFAULT_TEMPERATURES[i] as number) / (DEFAULT_TEMPERATURES[i - 1] as number)).toBeCloseTo(
        2 ** (1 / 6),
        12,
      );
    }
  });

  it("rescales as softmax(ln p / T), the same as softmax(z / T)", () => {
    const z = [0.3, -1.2, 2.0];
    const p = softmax(z);
    const split = logProbabilities(p, [2], 3);
    for (const t of [0.5, 1, 3]) {
      expect(temperedNllSum(split, t)).toBeCloseTo(-Math.log(softmax(z.map((v) => v / t))[2] as number), 12);
    }
  });

  for (const k of [0.5, 2]) {
    it(`recovers a known temperature (${k}) within one grid step, and calibration improves`, () => {
      const validation = miscalibrated(4000, k, 1);
      const test = miscalibrated(3000, k, 2);
      const summary = summariseStatistics(computeSiteStatistics({ ...test, numClasses: 4, validation }));
      const fit = summary.temperature;
      if (fit === undefined) throw new Error("no temperature summary");
      expect(Math.abs(Math.log2(fit.fitted) - Math.log2(k))).toBeLessThanOrEqual(1 / 6 + 1e-9);
      expect(fit.after.nll).toBeLessThan(fit.before.nll);
      expect(fit.after.ece).toBeLessThan(fit.before.ece);
      expect(fit.after.ece).toBeLessThan(0.03);
      expect(fit.before.ece).toBeGreaterThan(0.05);
      // "Before" is T = 1, the untouched model.
      expect(fit.before.nll).toBeCloseTo(summary.nll, 9);
      expect(fit.before.brier).toBeCloseTo(summary.brier, 9);
      expect(fit.before.ece).toBeCloseTo(summary.ece, 9);
    });
  }

  it("leaves a calibrated model at T = 1", () => {
    const validation = miscalibrated(4000, 1, 3);
    const test = miscalibrated(1000, 1, 4);
    const summary = summariseStatistics(computeSiteStatistics({ ...test, numClasses: 4, validation }));
    expect(Math.abs(Math.log2(summary.temperature?.fitted as number))).toBeLessThanOrEqual(1 / 6 + 1e-9);
  });
});
