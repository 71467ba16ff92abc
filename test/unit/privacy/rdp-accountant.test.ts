import { describe, expect, it } from "vitest";
import {
  DEFAULT_RDP_ORDERS,
  noiseMultiplierFor,
  RdpAccountant,
  rdpToEpsilon,
  sampledGaussianRdp,
} from "../../../shared/src/privacy/rdp-accountant.js";

// A second implementation from the definition: A_α = E_{z~N(0,σ²)}[(μ(z)/μ0(z))^α] with
// μ = (1−q)·N(0,σ²) + q·N(1,σ²), integrated numerically (trapezoid on a fine grid), so the
// closed-form sum in the accountant is checked against the integral it is derived from.
function rdpByIntegration(q: number, sigma: number, alpha: number): number {
  const lo = -30 * sigma;
  const hi = alpha + 30 * sigma;
  const n = 400_000;
  const h = (hi - lo) / n;
  // log of each integrand value, summed in log space to stay finite at large α
  const logs: number[] = [];
  for (let i = 0; i <= n; i++) {
    const z = lo + i * h;
    const logDensity = -(z * z) / (2 * sigma * sigma) - Math.log(sigma * Math.sqrt(2 * Math.PI));
    const ratio = 1 - q + q * Math.exp((2 * z - 1) / (2 * sigma * sigma));
    const weight = i === 0 || i === n ? 0.5 : 1;
    logs.push(logDensity + alpha * Math.log(ratio) + Math.log(weight * h));
  }
  let max = Number.NEGATIVE_INFINITY;
  for (const v of logs) if (v > max) max = v;
  const logA = max + Math.log(logs.reduce((s, v) => s + Math.exp(v - max), 0));
  return logA / (alpha - 1);
}

/** Standard normal CDF via erfc (W. J. Cody's rational approximation is overkill here; this series is ≤ 1.2e-7). */
function phi(x: number): number {
  // Abramowitz & Stegun 7.1.26 on |x|/√2, mirrored.
  const t = 1 / (1 + 0.3275911 * (Math.abs(x) / Math.SQRT2));
  const poly =
    t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erfc = poly * Math.exp(-(x * x) / 2);
  return x >= 0 ? 1 - erfc / 2 : erfc / 2;
}

/** Exact ε of the (unsampled) Gaussian mechanism at δ (Balle & Wang 2018, Thm. 8), by bisection. */
function exactGaussianEpsilon(sigma: number, delta: number): number {
  const deltaAt = (eps: number) =>
    phi(1 / (2 * sigma) - eps * sigma) - Math.exp(eps) * phi(-1 / (2 * sigma) - eps * sigma);
  let lo = 0;
  let hi = 100;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (deltaAt(mid) > delta) lo = mid;
    else hi = mid;
  }
  return hi;
}

describe("RDP of the sampled Gaussian mechanism", () => {
  it("is α/(2σ²) without subsampling (the Gaussian mechanism's RDP, Mironov 2017)", () => {
    const rdp = sampledGaussianRdp(1, 1.5, [2, 10, 64]);
    expect(rdp).toEqual([2 / 4.5, 10 / 4.5, 64 / 4.5]);
  });

  it.each([
    [0.01, 1.1, 2],
    [0.01, 1.1, 32],
    [0.1, 0.8, 8],
    [0.5, 2, 16],
    [0.05, 1, 64],
  ])("equals the integral of its definition (q %f, σ %f, α %i)", (q, sigma, alpha) => {
    const [closed] = sampledGaussianRdp(q, sigma, [alpha]);
    expect(closed).toBeCloseTo(rdpByIntegration(q, sigma, alpha), 6);
  });

  it("is 0 without sampling and infinite without noise", () => {
    expect(sampledGaussianRdp(0, 1, [2, 3])).toEqual([0, 0]);
    expect(sampledGaussianRdp(0.1, 0, [2])).toEqual([Number.POSITIVE_INFINITY]);
  });

  it("refuses rates, noise and orders that mean nothing, naming the value", () => {
    expect(() => sampledGaussianRdp(1.5, 1)).toThrow(/sampling rate 1.5/);
    expect(() => sampledGaussianRdp(0.1, -1)).toThrow(/noise multiplier -1/);
    expect(() => sampledGaussianRdp(0.1, 1, [1.5])).toThrow(/integers ≥ 2/);
  });
});

describe("(ε, δ) from RDP", () => {
  it.each([0.8, 1, 2, 5])(
    "bounds the exact Gaussian mechanism's ε from above, and not loosely (σ %f, δ 1e-5)",
    (sigma) => {
      const accountant = new RdpAccountant();
      accountant.step(1, sigma);
      const { epsilon } = accountant.epsilon(1e-5);
      const exact = exactGaussianEpsilon(sigma, 1e-5);
      expect(epsilon).toBeGreaterThanOrEqual(exact);
      expect(epsilon).toBeLessThan(1.35 * exact);
    },
  );

  it("takes the conversion of Canonne, Kamath & Steinke at the best order (hand-worked at one order)", () => {
    // One order α = 10, RDP 1: ε = 1 + ln(9/10) − (ln 1e-5 + ln 10)/9.
    const expected = 1 + Math.log(0.9) - (Math.log(1e-5) + Math.log(10)) / 9;
    expect(rdpToEpsilon([1], [10], 1e-5).epsilon).toBeCloseTo(expected, 12);
    expect(rdpToEpsilon([1, 1000], [10, 11], 1e-5).order).toBe(10);
  });

  it("composes additively: T rounds at once equal T single rounds, and ε grows with T", () => {
    const once = new RdpAccountant();
    once.step(0.2, 1.2, 50);
    const each = new RdpAccountant();
    for (let t = 0; t < 50; t++) each.step(0.2, 1.2);
    expect(each.epsilon(1e-5).epsilon).toBeCloseTo(once.epsilon(1e-5).epsilon, 9);
    const fewer = new RdpAccountant();
    fewer.step(0.2, 1.2, 10);
    expect(fewer.epsilon(1e-5).epsilon).toBeLessThan(once.epsilon(1e-5).epsilon);
  });

  it("is amplified by subsampling: a smaller rate spends less", () => {
    const eps = (q: number) => {
      const a = new RdpAccountant();
      a.step(q, 1, 100);
      return a.epsilon(1e-5).epsilon;
    };
    expect(eps(0.01)).toBeLessThan(eps(0.1));
    expect(eps(0.1)).toBeLessThan(eps(1));
  });

  it("survives a restart through its JSON and says what the next rounds would cost", () => {
    const a = new RdpAccountant();
    a.step(0.3, 1.1, 7);
    const b = RdpAccountant.fromJSON(JSON.parse(JSON.stringify(a)));
    expect(b.epsilon(1e-6)).toEqual(a.epsilon(1e-6));
    const ahead = b.epsilonAfter(0.3, 1.1, 3, 1e-6);
    a.step(0.3, 1.1, 3);
    expect(ahead).toBeCloseTo(a.epsilon(1e-6).epsilon, 12);
    expect(b.epsilon(1e-6).epsilon).toBeLessThan(ahead);
    expect(() => new RdpAccountant(DEFAULT_RDP_ORDERS, [1, 2])).toThrow(/2 spent RDP values/);
  });
});

describe("noise for a budget", () => {
  it("finds the smallest noise multiplier that stays within ε", () => {
    const z = noiseMultiplierFor(3, 1e-5, 0.5, 20) as number;
    const at = (noise: number) => {
      const a = new RdpAccountant();
      a.step(0.5, noise, 20);
      return a.epsilon(1e-5).epsilon;
    };
    expect(at(z)).toBeLessThanOrEqual(3);
    expect(at(z * 0.99)).toBeGreaterThan(3);
  });

  it("says when no noise can reach the budget", () => {
    expect(noiseMultiplierFor(1e-9, 1e-5, 1, 1_000_000)).toBeUndefined();
  });
});
