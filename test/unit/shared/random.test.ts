import { describe, expect, it } from "vitest";
import { allocateCounts } from "../../../shared/src/ml/data/allocate-counts.js";
import { deriveSeed, Rng } from "../../../shared/src/random.js";

describe("Rng", () => {
  it("repeats its stream for the same seed and differs for another", () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const sa = Array.from({ length: 50 }, () => a.uint32());
    const sb = Array.from({ length: 50 }, () => b.uint32());
    const sc = Array.from({ length: 50 }, () => c.uint32());
    expect(sa).toEqual(sb);
    expect(sa).not.toEqual(sc);
  });

  it("draws uniforms with mean 1/2 and variance 1/12", () => {
    const rng = new Rng(1);
    const n = 100_000;
    let sum = 0;
    let sumSq = 0;
    let min = 1;
    let max = 0;
    for (let i = 0; i < n; i++) {
      const x = rng.next();
      min = Math.min(min, x);
      max = Math.max(max, x);
      sum += x;
      sumSq += x * x;
    }
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThan(1);
    const mean = sum / n;
    expect(mean).toBeCloseTo(0.5, 2);
    expect(sumSq / n - mean * mean).toBeCloseTo(1 / 12, 2);
  });

  it("draws normals with mean 0 and sd 1", () => {
    const rng = new Rng(2);
    const n = 100_000;
    let sum = 0;
    let sumSq = 0;
    for (let i = 0; i < n; i++) {
      const x = rng.normal();
      sum += x;
      sumSq += x * x;
    }
    expect(sum / n).toBeCloseTo(0, 1);
    expect(Math.sqrt(sumSq / n)).toBeCloseTo(1, 1);
  });

  it("draws gamma(k) with mean k and variance k, also for k < 1", () => {
    for (const shape of [0.3, 1, 4.5]) {
      const rng = new Rng(3);
      const n = 60_000;
      let sum = 0;
      let sumSq = 0;
      for (let i = 0; i < n; i++) {
        const x = rng.gamma(shape);
        sum += x;
        sumSq += x * x;
      }
      const mean = sum / n;
      expect(Math.abs(mean - shape) / shape).toBeLessThan(0.03);
      expect(Math.abs(sumSq / n - mean * mean - shape) / shape).toBeLessThan(0.08);
    }
  });

  it("derives independent seeds from labels", () => {
    expect(deriveSeed(7, "a", 1)).toBe(deriveSeed(7, "a", 1));
    expect(deriveSeed(7, "a", 1)).not.toBe(deriveSeed(7, "a", 2));
    expect(deriveSeed(7, "a1")).not.toBe(deriveSeed(7, "a", 1));
  });

  it("shuffles to a permutation", () => {
    const items = Array.from({ length: 100 }, (_, i) => i);
    const shuffled = new Rng(5).shuffle([...items]);
    expect([...shuffled].sort((a, b) => a - b)).toEqual(items);
    expect(shuffled).not.toEqual(items);
  });
});

describe("allocateCounts", () => {
  it("splits by largest remainder", () => {
    // 10 * [0.28, 0.47, 0.17, 0.08] = 2.8, 4.7, 1.7, 0.8 -> floors 2, 4, 1, 0 (7), remainders
    // .8, .7, .7, .8 -> the two .8s first (indices 0 and 3), then index 1 (lower index wins ties).
    expect(allocateCounts(10, [0.28, 0.47, 0.17, 0.08])).toEqual([3, 5, 1, 1]);
    expect(allocateCounts(7, [1, 1, 1])).toEqual([3, 2, 2]);
    expect(allocateCounts(0, [1, 2])).toEqual([0, 0]);
  });

  it("always sums to the total", () => {
    const rng = new Rng(9);
    for (let t = 0; t < 200; t++) {
      const weights = Array.from({ length: 1 + rng.int(6) }, () => rng.next() + 0.001);
      const total = rng.int(1000);
      expect(allocateCounts(total, weights).reduce((s, c) => s + c, 0)).toBe(total);
    }
  });
});
