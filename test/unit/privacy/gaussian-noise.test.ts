import { describe, expect, it } from "vitest";
import { addGaussianNoise, gaussianNoise } from "../../../shared/src/privacy/gaussian-noise.js";

/** Standard normal CDF (Abramowitz & Stegun 7.1.26, error ≤ 1.5e-7). */
function phi(x: number): number {
  const t = 1 / (1 + 0.3275911 * (Math.abs(x) / Math.SQRT2));
  const poly =
    t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erfc = poly * Math.exp(-(x * x) / 2);
  return x >= 0 ? 1 - erfc / 2 : erfc / 2;
}

describe("Gaussian noise from the CSPRNG", () => {
  const n = 200_000;
  const std = 2.5;
  const samples = new Float64Array(n);
  gaussianNoise(samples, std);

  it("has mean 0 and the asked standard deviation (within 4 standard errors)", () => {
    const mean = samples.reduce((a, b) => a + b, 0) / n;
    const variance = samples.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
    expect(Math.abs(mean)).toBeLessThan((4 * std) / Math.sqrt(n));
    // The standard error of the sample variance of a normal is σ²·sqrt(2/(n−1)).
    expect(Math.abs(variance - std * std)).toBeLessThan(4 * std * std * Math.sqrt(2 / (n - 1)));
  });

  it("is normal: the Kolmogorov–Smirnov distance to N(0, σ²) is below the 0.1 % critical value", () => {
    const sorted = Float64Array.from(samples).sort();
    let d = 0;
    sorted.forEach((x, i) => {
      const cdf = phi(x / std);
      d = Math.max(d, Math.abs(cdf - i / n), Math.abs(cdf - (i + 1) / n));
    });
    expect(d).toBeLessThan(1.95 / Math.sqrt(n));
  });

  it("draws from the source it is given, and differs between calls with the CSPRNG", () => {
    const zeros = new Float64Array(4);
    gaussianNoise(zeros, 1, (out) => out.fill(0xffffffff));
    // All-ones bits give u = 1, so radius √(−2 ln 1) = 0.
    expect(Array.from(zeros, Math.abs)).toEqual([0, 0, 0, 0]);
    const a = new Float32Array(8);
    const b = new Float32Array(8);
    addGaussianNoise(a, 1);
    addGaussianNoise(b, 1);
    expect(Array.from(a)).not.toEqual(Array.from(b));
  });

  it("refuses a negative or infinite std", () => {
    expect(() => gaussianNoise(new Float64Array(2), -1)).toThrow(/noise std -1/);
    expect(() => gaussianNoise(new Float64Array(2), Number.POSITIVE_INFINITY)).toThrow(/finite/);
  });
});
