import { describe, expect, it } from "vitest";
import {
  CALIBRATION_BINS,
  computeSiteStatistics,
  poolStatistics,
  summariseStatistics,
} from "../../../shared/src/metrics/index.js";
import { type Synthetic, synthetic } from "./synthetic.js";

/** Per-image top-label confidences and whether each was right (argmax, ties to the lowest index). */
function topLabel(data: Synthetic): { confidence: number[]; correct: boolean[] } {
  const k = data.numClasses;
  const confidence: number[] = [];
  const correct: boolean[] = [];
  for (let i = 0; i < data.labels.length; i++) {
    const row = Array.from(data.probabilities.subarray(i * k, (i + 1) * k));
    const best = row.indexOf(Math.max(...row));
    confidence.push(row[best] as number);
    correct.push(best === data.labels[i]);
  }
  return { confidence, correct };
}

/** ECE and MCE the textbook way: bin each image's confidence into 20 equal-width bins. */
function directEce(data: Synthetic): { ece: number; mce: number } {
  const { confidence, correct } = topLabel(data);
  const hits = new Array(20).fill(0);
  const sums = new Array(20).fill(0);
  const counts = new Array(20).fill(0);
  confidence.forEach((p, i) => {
    const b = Math.min(19, Math.floor(p * 20));
    counts[b]++;
    sums[b] += p;
    if (correct[i]) hits[b]++;
  });
  let ece = 0;
  let mce = 0;
  for (let b = 0; b < 20; b++) {
    if (counts[b] === 0) continue;
    ece += Math.abs(hits[b] - sums[b]) / confidence.length;
    mce = Math.max(mce, Math.abs(hits[b] - sums[b]) / counts[b]);
  }
  return { ece, mce };
}

/** Adaptive ECE: sort by confidence, cut at ranks ⌊j·n/20⌋. */
function directAdaptiveEce(data: Synthetic): number {
  const { confidence, correct } = topLabel(data);
  const order = confidence
    .map((_, i) => i)
    .sort((a, b) => (confidence[a] as number) - (confidence[b] as number));
  const n = order.length;
  let total = 0;
  for (let j = 0; j < 20; j++) {
    let gap = 0;
    for (let r = Math.floor((j * n) / 20); r < Math.floor(((j + 1) * n) / 20); r++) {
      const i = order[r] as number;
      gap += (correct[i] ? 1 : 0) - (confidence[i] as number);
    }
    total += Math.abs(gap);
  }
  return total / n;
}

describe("calibration worked by hand", () => {
  // Two classes. Confidences 0.95 (right), 0.95 (wrong), 0.65 (right), 0.62 (right).
  const probabilities = new Float64Array([0.95, 0.05, 0.95, 0.05, 0.35, 0.65, 0.62, 0.38]);
  const labels = [0, 1, 1, 0];
  const summary = summariseStatistics(computeSiteStatistics({ probabilities, labels, numClasses: 2 }));

  it("ECE, MCE, Brier and NLL", () => {
    // Bin [0.95, 1): 2 images, 1 right, Σp 1.9 → 0.9; bin [0.65, 0.7): 1 − 0.65; bin [0.6, 0.65): 1 − 0.62.
    expect(summary.ece).toBeCloseTo((0.9 + 0.35 + 0.38) / 4, 12);
    expect(summary.mce).toBeCloseTo(0.45, 12);
    // Σ_c (p − y)²: 0.05² · 2, 0.95² · 2, 0.35² · 2, 0.38² · 2.
    expect(summary.brier).toBeCloseTo((0.005 + 1.805 + 0.245 + 0.2888) / 4, 12);
    expect(summary.nll).toBeCloseTo(
      -(Math.log(0.95) + Math.log(0.05) + Math.log(0.65) + Math.log(0.62)) / 4,
      12,
    );
  });

  it("reliability bins: top-label and per class", () => {
    const top = summary.reliability[19];
    expect(summary.reliability).toHaveLength(CALIBRATION_BINS);
    expect(top).toMatchObject({ low: 0.95, high: 1, count: 2, observed: 0.5 });
    expect(top?.meanPredicted).toBeCloseTo(0.95, 12);
    expect(summary.reliability[5]).toEqual({ low: 0.25, high: 0.3, count: 0, meanPredicted: 0, observed: 0 });
    // Class 1's P: 0.05 (neg), 0.05 (pos), 0.65 (pos), 0.38 (neg).
    const bin = summary.classReliability[1]?.[1];
    expect(bin).toMatchObject({ count: 2, observed: 0.5 });
    expect(bin?.meanPredicted).toBeCloseTo(0.05, 12);
    expect(summary.classReliability[1]?.[13]).toMatchObject({ count: 1, observed: 1 });
    expect(summary.classReliability[1]?.[7]).toMatchObject({ count: 1, observed: 0 });
  });

  it("AUC with a tie inside one bin", () => {
    // Class 0: positives 0.95, 0.62; negatives 0.95, 0.35 → (½ + 1 + 0 + 1) / 4, the tie bounded by 1/8.
    expect(summary.auc[0]).toEqual({ value: 0.625, errorBound: 0.125 });
  });
});

describe("calibration against a per-image computation", () => {
  it("equal-width ECE and MCE are exact (the 20 bins nest in the 1000)", () => {
    for (let seed = 1; seed <= 10; seed++) {
      const data = synthetic(400, 4, seed, { signal: seed / 3 });
      const summary = summariseStatistics(computeSiteStatistics(data));
      const direct = directEce(data);
      expect(summary.ece).toBeCloseTo(direct.ece, 12);
      expect(summary.mce).toBeCloseTo(direct.mce, 12);
    }
  });

  it("adaptive ECE is within its bound, and the bound is small", () => {
    for (let seed = 1; seed <= 10; seed++) {
      const data = synthetic(500, 4, seed, { signal: seed / 3, tieShare: seed % 2 === 0 ? 0.2 : 0 });
      const { adaptiveEce } = summariseStatistics(computeSiteStatistics(data));
      expect(Math.abs(directAdaptiveEce(data) - adaptiveEce.value)).toBeLessThanOrEqual(
        adaptiveEce.errorBound + 1e-12,
      );
      if (seed % 2 === 1) expect(adaptiveEce.errorBound).toBeLessThan(0.02);
    }
  });

  it("pooled calibration equals calibration of all images together", () => {
    const data = synthetic(600, 4, 5);
    const parts = [0, 200, 350, 600];
    const sites = parts.slice(0, -1).map((start, s) =>
      computeSiteStatistics({
        probabilities: data.probabilities.subarray(start * 4, (parts[s + 1] as number) * 4),
        labels: data.labels.subarray(start, parts[s + 1]),
        numClasses: 4,
      }),
    );
    const pooled = summariseStatistics(poolStatistics(sites));
    expect(pooled.ece).toBeCloseTo(directEce(data).ece, 12);
    expect(pooled.reliability.map((b) => b.count)).toEqual(
      summariseStatistics(computeSiteStatistics(data)).reliability.map((b) => b.count),
    );
  });
});
