import { describe, expect, it } from "vitest";
import {
  averagePrecision,
  binnedAuc,
  binnedAveragePrecision,
  binnedPrCurve,
  binnedRocCurve,
  computeSiteStatistics,
  MAX_CURVE_POINTS,
  oneVsRest,
  rocAuc,
  summariseStatistics,
} from "../../../shared/src/metrics/index.js";
import { synthetic } from "./synthetic.js";

describe("binned AUC and AP, worked by hand", () => {
  // Four bins; class positives in bins 1, 2, 3 and negatives in bins 0, 1, 2.
  const positive = [0, 1, 1, 1];
  const negative = [1, 1, 1, 0];

  it("AUC counts same-bin pairs ½ and bounds them by Σ pos·neg / 2PN", () => {
    // 9 pairs: wins 1 (bin 1) + 2 (bin 2) + 3 (bin 3) = 6, ties in bins 1 and 2.
    const auc = binnedAuc(positive, negative);
    expect(auc?.value).toBeCloseTo(7 / 9, 15);
    expect(auc?.errorBound).toBeCloseTo(1 / 9, 15);
    // The two extreme within-bin orders, as real scores: exactly the ends of the bound.
    const best = rocAuc([0.1, 0.3, 0.35, 0.55, 0.6, 0.9], [0, 0, 1, 0, 1, 1]);
    const worst = rocAuc([0.1, 0.35, 0.3, 0.6, 0.55, 0.9], [0, 0, 1, 0, 1, 1]);
    expect(best).toBeCloseTo(8 / 9, 15);
    expect(worst).toBeCloseTo(6 / 9, 15);
  });

  it("AP is the midpoint of the best and worst within-bin orders", () => {
    // Best: (1 + 2/2 + 3/4) / 3; worst: (1 + 2/3 + 3/5) / 3.
    const high = (1 + 1 + 3 / 4) / 3;
    const low = (1 + 2 / 3 + 3 / 5) / 3;
    const ap = binnedAveragePrecision(positive, negative);
    expect(ap?.value).toBeCloseTo((high + low) / 2, 15);
    expect(ap?.errorBound).toBeCloseTo((high - low) / 2, 15);
    const best = averagePrecision([0.1, 0.3, 0.35, 0.55, 0.6, 0.9], [0, 0, 1, 0, 1, 1]);
    const worst = averagePrecision([0.1, 0.35, 0.3, 0.6, 0.55, 0.9], [0, 0, 1, 0, 1, 1]);
    expect(best).toBeCloseTo(high, 15);
    expect(worst).toBeCloseTo(low, 15);
  });

  it("ties inside a bin stay within the AP bound (they raise precision above the 'positives first' order)", () => {
    // Bin 0 holds 1 negative, bin 1 holds 10 positives: exactly tied, AP = 10/11 per positive.
    const pos = [0, 10];
    const neg = [1, 1];
    const ap = binnedAveragePrecision(pos, neg) as { value: number; errorBound: number };
    const tied = averagePrecision([...new Array(10).fill(0.9), 0.9, 0.1], [...new Array(10).fill(1), 0, 0]);
    expect(tied).toBeCloseTo(10 / 11, 15);
    expect(Math.abs(tied - ap.value)).toBeLessThanOrEqual(ap.errorBound + 1e-15);
    expect(ap.value + ap.errorBound).toBeCloseTo(1, 15);
  });

  it("is undefined without positives (AUC and AP) or without negatives (AUC)", () => {
    expect(binnedAuc([0, 0], [1, 2])).toBeNull();
    expect(binnedAuc([1, 2], [0, 0])).toBeNull();
    expect(binnedAveragePrecision([0, 0], [1, 2])).toBeNull();
    expect(binnedAveragePrecision([1, 2], [0, 0])).toEqual({ value: 1, errorBound: 0 });
  });
});

describe("binned against exact (ranking.ts) on the same images", () => {
  it("stays within the stated bound, with exact ties, over many data sets", () => {
    for (let seed = 1; seed <= 20; seed++) {
      const data = synthetic(300, 4, seed, { tieShare: 0.3, signal: seed % 3 });
      const summary = summariseStatistics(computeSiteStatistics(data));
      const exact = oneVsRest(data.probabilities, data.labels, 4);
      for (let c = 0; c < 4; c++) {
        const auc = summary.auc[c];
        const ap = summary.ap[c];
        if (auc === null || auc === undefined || ap === null || ap === undefined)
          throw new Error("undefined");
        expect(Math.abs((exact.auc[c] as number) - auc.value)).toBeLessThanOrEqual(auc.errorBound + 1e-12);
        expect(Math.abs((exact.ap[c] as number) - ap.value)).toBeLessThanOrEqual(ap.errorBound + 1e-12);
      }
      expect(Math.abs(exact.macroAuc - (summary.macroAuc?.value as number))).toBeLessThanOrEqual(
        (summary.macroAuc?.errorBound as number) + 1e-12,
      );
      expect(Math.abs(exact.mAP - (summary.mAP?.value as number))).toBeLessThanOrEqual(
        (summary.mAP?.errorBound as number) + 1e-12,
      );
    }
  });

  it("gives a bound that is not vacuous: < 0.01 at 1000 bins for 500 images", () => {
    const data = synthetic(500, 4, 99);
    const summary = summariseStatistics(computeSiteStatistics(data));
    const exact = oneVsRest(data.probabilities, data.labels, 4);
    for (let c = 0; c < 4; c++) {
      expect(summary.auc[c]?.errorBound).toBeLessThan(0.01);
      expect(summary.ap[c]?.errorBound).toBeLessThan(0.01);
      expect(Math.abs((exact.auc[c] as number) - (summary.auc[c]?.value as number))).toBeLessThan(0.01);
    }
    expect(summary.macroAuc?.errorBound).toBeLessThan(0.005);
  });

  it("a bound that ignored within-bin order would fail: shifting the estimate by the bound breaks it somewhere", () => {
    // Guards the test above against a vacuously loose bound: the exact value sits well inside,
    // yet not at the estimate, so the error is real and the bound is needed.
    const data = synthetic(300, 4, 7, { tieShare: 0.5 });
    const summary = summariseStatistics(computeSiteStatistics(data));
    const exact = oneVsRest(data.probabilities, data.labels, 4);
    const errors = [0, 1, 2, 3].map((c) =>
      Math.abs((exact.ap[c] as number) - (summary.ap[c]?.value as number)),
    );
    expect(Math.max(...errors)).toBeGreaterThan(1e-6);
  });
});

describe("binned curves", () => {
  it("ROC runs from (0,0) to (1,1), PR starts at (0,1) and ends at the prevalence", () => {
    const roc = binnedRocCurve([0, 1, 1, 1], [1, 1, 1, 0]);
    expect(roc).toEqual([
      { x: 0, y: 0 },
      { x: 0, y: 1 / 3 },
      { x: 1 / 3, y: 2 / 3 },
      { x: 2 / 3, y: 1 },
      { x: 1, y: 1 },
    ]);
    const pr = binnedPrCurve([0, 1, 1, 1], [1, 1, 1, 0]);
    expect(pr).toEqual([
      { x: 0, y: 1 },
      { x: 1 / 3, y: 1 },
      { x: 2 / 3, y: 2 / 3 },
      // After bin 1: 3 positives and the negatives of bins 2 and 1 called positive.
      { x: 1, y: 3 / 5 },
      { x: 1, y: 1 / 2 },
    ]);
  });

  it("keeps at most 201 points of a 1000-bin curve, first and last included", () => {
    const data = synthetic(2000, 4, 3, { signal: 0.5 });
    const summary = summariseStatistics(computeSiteStatistics(data));
    for (const curve of [...summary.roc, ...summary.pr]) {
      expect(curve.length).toBeGreaterThan(100);
      expect(curve.length).toBeLessThanOrEqual(MAX_CURVE_POINTS);
    }
    expect(summary.roc[0]?.[0]).toEqual({ x: 0, y: 0 });
    expect(summary.roc[0]?.at(-1)).toEqual({ x: 1, y: 1 });
  });
});
