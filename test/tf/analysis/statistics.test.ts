import { describe, expect, it } from "vitest";
import { disparities } from "../../../client/src/analysis/disparities.js";
import { meanPointing, pointingScore } from "../../../client/src/analysis/pointing.js";
import { averageRanks, spearman } from "../../../client/src/analysis/spearman.js";

describe("Spearman's rank correlation", () => {
  it("gives tied values the mean of their ranks", () => {
    expect(Array.from(averageRanks([10, 20, 20, 30]))).toEqual([1, 2.5, 2.5, 4]);
    expect(Array.from(averageRanks([3, 1, 3, 3]))).toEqual([3, 1, 3, 3]);
    expect(Array.from(averageRanks([0, 0, 0, 5, 0]))).toEqual([2.5, 2.5, 2.5, 5, 2.5]);
  });

  it("matches the hand-worked no-tie formula 1 - 6 sum d^2 / (n (n^2 - 1))", () => {
    // d = (0, -1, 1, 0): 1 - 6 * 2 / (4 * 15) = 0.8
    expect(spearman([1, 2, 3, 4], [1, 3, 2, 4])).toBeCloseTo(0.8, 12);
    // d = (2, 0, -2) on n = 3: 1 - 6 * 8 / 24 = -1
    expect(spearman([1, 2, 3], [30, 20, 10])).toBeCloseTo(-1, 12);
  });

  it("matches the hand-worked case with ties (Pearson of average ranks)", () => {
    // ranks a = 1..5, b = (1, 2, 3.5, 5, 3.5): cross 8, var 10 and 9.5, so 8 / sqrt(95);
    // scipy.stats.spearmanr([1,2,3,4,5], [5,6,7,8,7]) prints 0.8207826816681233.
    expect(spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7])).toBeCloseTo(8 / Math.sqrt(95), 12);
    expect(spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7])).toBeCloseTo(0.8207826816681233, 12);
  });

  it("depends only on order: monotone transforms keep rho = 1, a constant vector has none", () => {
    expect(spearman([1, 2, 3, 4], [1, 8, 27, 64])).toBeCloseTo(1, 12);
    expect(spearman([0.1, 5, 2], [Math.exp(0.1), Math.exp(5), Math.exp(2)])).toBeCloseTo(1, 12);
    expect(spearman([1, 2, 3], [7, 7, 7])).toBeNaN();
  });
});

describe("pointing game", () => {
  // 4x4 map; mask covers the top-left 2x2 block (area 4 of 16).
  const mask = [1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

  it("splits the mass by the mask and checks where the peak is", () => {
    const map = [4, 0, 0, 0, 0, 2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0];
    expect(pointingScore(map, mask)).toEqual({ massInside: 6 / 8, chance: 4 / 16, hit: true });
    const outside = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3];
    expect(pointingScore(outside, mask)).toEqual({ massInside: 1 / 4, chance: 1 / 4, hit: false });
  });

  it("scores a uniform map at chance and ignores negative values", () => {
    expect(pointingScore(new Array(16).fill(1), mask)?.massInside).toBeCloseTo(0.25, 12);
    const withNegative = [-5, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    expect(pointingScore(withNegative, mask)).toEqual({ massInside: 0.5, chance: 0.25, hit: true });
  });

  it("is undefined without a mask or without mass, and averages per class", () => {
    expect(pointingScore(new Array(16).fill(1), new Array(16).fill(0))).toBeUndefined();
    expect(pointingScore(new Array(16).fill(0), mask)).toBeUndefined();
    const mean = meanPointing([
      { massInside: 0.5, chance: 0.25, hit: true },
      { massInside: 0.1, chance: 0.15, hit: false },
    ]);
    expect(mean.images).toBe(2);
    expect(mean.massInside).toBeCloseTo(0.3, 12);
    expect(mean.chance).toBeCloseTo(0.2, 12);
    expect(mean.hitRate).toBe(0.5);
  });
});

describe("disparities", () => {
  it("ranks sites by macro-F1 and pools per-class F1 over images", () => {
    // Site a: perfect on 2 classes (F1 1, 1). Site b: class 0 -> (tp 1, fn 1), class 1 -> (tp 2, fp 1):
    // F1_0 = 2/(2+1) = 2/3, F1_1 = 4/(4+1) = 0.8, macro 0.7333.
    const a = [
      [3, 0],
      [0, 1],
    ];
    const b = [
      [1, 1],
      [0, 2],
    ];
    const result = disparities(
      new Map([
        ["a", a],
        ["b", b],
      ]),
      ["zero", "one"],
    );
    expect(result.best).toEqual({ site: "a", value: 1 });
    expect(result.worst.site).toBe("b");
    expect(result.worst.value).toBeCloseTo((2 / 3 + 0.8) / 2, 12);
    // Pooled [[4,1],[0,3]]: F1_0 = 8/9, F1_1 = 6/7; macro 0.8730; class one is below it.
    expect(result.perClass[0]?.pooled).toBeCloseTo(8 / 9, 12);
    expect(result.perClass[1]?.pooled).toBeCloseTo(6 / 7, 12);
    expect(result.perClass[1]?.bySite).toEqual({ a: 1, b: 0.8 });
    expect(result.hardestClasses).toEqual(["one"]);
  });
});
