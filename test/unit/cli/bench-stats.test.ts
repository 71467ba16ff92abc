import { describe, expect, it } from "vitest";
import {
  estimate,
  formatEstimate,
  formatInterval,
  pairedDifference,
  signed,
  verdictOf,
} from "../../../cli/bench/stats.js";

/** The t quantile the interval used, recovered from its half-width: half / (sd / √n). */
function usedQuantile(values: number[]): number {
  const e = estimate(values);
  return (e.high - e.mean) / (e.sd / Math.sqrt(e.n));
}

describe("Student-t intervals", () => {
  it("use the 0.975 quantile with n − 1 degrees of freedom", () => {
    // ν = 1: the Cauchy quantile tan(π (p − ½)); ν = 2: (2p − 1) / √(2p(1 − p)). Both closed forms.
    expect(usedQuantile([0, 1])).toBeCloseTo(Math.tan(Math.PI * 0.475), 6);
    expect(usedQuantile([0, 1, 5])).toBeCloseTo(0.95 / Math.sqrt(2 * 0.975 * 0.025), 6);
    // Printed t tables (two-sided 95 %): ν = 4, 9, 29.
    expect(usedQuantile([1, 2, 3, 4, 6])).toBeCloseTo(2.776, 3);
    expect(usedQuantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 11])).toBeCloseTo(2.262, 3);
    expect(usedQuantile(Array.from({ length: 30 }, (_, i) => i * i))).toBeCloseTo(2.045, 3);
    // Many seeds: the normal quantile 1.960.
    expect(usedQuantile(Array.from({ length: 5000 }, (_, i) => i % 7))).toBeCloseTo(1.96, 2);
  });

  it("give the hand-worked interval of five values", () => {
    // 1..5: mean 3, sd √2.5, half-width 2.776445 × √2.5 / √5 = 1.963243
    const e = estimate([1, 2, 3, 4, 5]);
    expect(e.mean).toBe(3);
    expect(e.sd).toBeCloseTo(Math.sqrt(2.5), 12);
    expect(e.low).toBeCloseTo(3 - 1.963243, 5);
    expect(e.high).toBeCloseTo(3 + 1.963243, 5);
  });

  it("has no interval for a single value and prints n = 1 instead of a zero spread", () => {
    const e = estimate([0.315]);
    expect(e.n).toBe(1);
    expect(e.low).toBeNaN();
    expect(formatEstimate(e)).toBe("0.315 (n = 1)");
    expect(formatEstimate(estimate([]))).toBe("n/a");
    expect(formatEstimate(estimate([1, 2, 3, 4, 5]))).toBe("3.000 ± 1.963");
  });
});

describe("paired differences", () => {
  it("pair by seed and leave out seeds one side lacks", () => {
    const a = new Map([
      [1, 0.5],
      [2, 0.6],
      [3, 0.7],
      [5, Number.NaN],
    ]);
    const b = new Map([
      [3, 0.5],
      [1, 0.4],
      [2, 0.6],
      [4, 0.9],
      [5, 0.1],
    ]);
    const d = pairedDifference(a, b);
    expect(d.seeds).toEqual([1, 2, 3]);
    expect(d.differences.map((x) => Number(x.toFixed(12)))).toEqual([0.1, 0, 0.2]);
    // mean 0.1, sd 0.1, half-width 4.302653 × 0.1 / √3 = 0.248414
    expect(d.mean).toBeCloseTo(0.1, 12);
    expect(d.high - d.mean).toBeCloseTo(0.248414, 5);
  });

  it("differ from unpaired intervals: a shared seed effect cancels", () => {
    // b = a + 0.01 at every seed, while the seeds themselves vary a lot.
    const a = new Map([1, 2, 3, 4, 5].map((s) => [s, s / 10] as const));
    const b = new Map([1, 2, 3, 4, 5].map((s) => [s, s / 10 + 0.01 + (s % 2) * 1e-4] as const));
    const d = pairedDifference(b, a);
    expect(verdictOf(d)).toBe("holds");
    expect(verdictOf(pairedDifference(a, b))).toBe("does not hold");
    // Unpaired, the two means' intervals overlap almost entirely.
    expect(estimate([...b.values()]).low).toBeLessThan(estimate([...a.values()]).high);
  });

  it("cannot tell apart an interval that contains 0, or a single seed", () => {
    expect(verdictOf(estimate([0.1, -0.1, 0.05]))).toBe("cannot be told apart");
    expect(verdictOf(estimate([0.3]))).toBe("cannot be told apart");
    expect(verdictOf(estimate([]))).toBe("no data");
  });

  it("formats signed differences and intervals", () => {
    expect(signed(-0.0123)).toBe("−0.012");
    expect(signed(0.5)).toBe("+0.500");
    expect(formatInterval(estimate([1, 2, 3, 4, 5]))).toBe("[+1.037, +4.963]");
    expect(formatInterval(estimate([1]))).toBe("(n = 1)");
  });
});
