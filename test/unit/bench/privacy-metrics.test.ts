import { describe, expect, it } from "vitest";
import {
  bestMatch,
  gaussianWindow,
  psnr,
  SSIM_K1,
  ssim,
  uniformWindow,
} from "../../../bench/privacy/image-metrics.js";
import { inferLabels } from "../../../bench/privacy/inversion.js";
import {
  aggregateSum,
  clientUpdate,
  protectUpdates,
  siteNoiseStd,
} from "../../../bench/privacy/mechanism.js";

const C1 = SSIM_K1 ** 2;

describe("SSIM (Wang et al. 2004)", () => {
  it("matches a value worked by hand on a 2×2 image with one 2×2 uniform window", () => {
    // x = [.2 .4; .6 .8], y = [.1 .4; .5 .9]:
    // μx = .5, μy = .475; σx² = (.09+.01+.01+.09)/4 = .05; σy² = (.140625+.005625+.000625+.180625)/4 = .081875
    // σxy = (.1125+.0075+.0025+.1275)/4 = .0625
    // SSIM = (2·.5·.475 + 1e-4)(2·.0625 + 9e-4) / ((.25 + .225625 + 1e-4)(.05 + .081875 + 9e-4))
    //      = .4751 · .1259 / (.475725 · .132775) = .05981509 / .06316438... = 0.946974916...
    const value = ssim([0.2, 0.4, 0.6, 0.8], [0.1, 0.4, 0.5, 0.9], 2, uniformWindow(2));
    expect(value).toBeCloseTo(0.9469749167, 9);
  });

  it("averages the windows: four 1×1 windows on a 2×2 image are their luminance terms", () => {
    // 1×1 windows have σ = 0, so each window is (2ab + C1)/(a² + b² + C1) · C2/C2.
    const x = [0.3, 0.9, 0.3, 0.9];
    const y = [0.6, 0.9, 0.6, 0.9];
    const first = (2 * 0.3 * 0.6 + C1) / (0.09 + 0.36 + C1);
    expect(ssim(x, y, 2, uniformWindow(1))).toBeCloseTo((2 * first + 2 * 1) / 4, 12);
  });

  it("reduces to the luminance term for constant images under the Gaussian window", () => {
    const a = new Array<number>(121).fill(0.25);
    const b = new Array<number>(121).fill(0.75);
    expect(ssim(a, b, 11)).toBeCloseTo((2 * 0.25 * 0.75 + C1) / (0.0625 + 0.5625 + C1), 12);
  });

  it("is 1 for identical images, symmetric, and below 1 otherwise", () => {
    const x = Array.from({ length: 256 }, (_, i) => (Math.sin(i * 0.37) + 1) / 2);
    const y = x.map((v, i) => Math.min(1, Math.max(0, v + 0.1 * Math.cos(i))));
    expect(ssim(x, x, 16)).toBeCloseTo(1, 12);
    expect(ssim(x, y, 16)).toBeCloseTo(ssim(y, x, 16), 12);
    expect(ssim(x, y, 16)).toBeLessThan(0.99);
  });

  it("uses Wang's normalised 11×11, σ = 1.5 window", () => {
    const w = gaussianWindow();
    expect(w.size).toBe(11);
    expect(w.weights.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 12);
    // The weight ratio of the centre and a neighbour at distance 1 is e^{1/(2·1.5²)}.
    expect((w.weights[60] as number) / (w.weights[61] as number)).toBeCloseTo(Math.exp(1 / 4.5), 12);
  });

  it("refuses a window larger than the image", () => {
    expect(() => ssim([0], [0], 1)).toThrow(/does not fit/);
  });
});

describe("PSNR and matching", () => {
  it("PSNR is 10·log10(1/MSE)", () => {
    // MSE of [0,0,0,0] vs [.1,.1,.1,.1] is .01, so 20 dB.
    expect(psnr([0, 0, 0, 0], [0.1, 0.1, 0.1, 0.1], 2)).toBeCloseTo(20, 10);
  });

  it("pairs reconstructions with the images they resemble, whatever the order", () => {
    const a = [0, 0, 0, 0];
    const b = [1, 1, 1, 1];
    const scores = bestMatch(
      [a, b],
      [
        [0.9, 0.9, 1, 1],
        [0.1, 0, 0, 0],
      ],
      2,
      uniformWindow(2),
    );
    expect(scores.map((s) => s.reconstruction)).toEqual([1, 0]);
    expect(scores[0]?.psnr).toBeCloseTo(10 * Math.log10(1 / (0.01 / 4)), 10);
  });
});

describe("iDLG label inference", () => {
  it("reads the label of a single image off the only negative head-bias gradient", () => {
    expect(inferLabels([0.2, -0.7, 0.3, 0.2], 1)).toEqual([1]);
  });
  it("takes the most negative entries for a batch of distinct labels", () => {
    expect(inferLabels([-0.1, 0.3, -0.4, 0.2], 2)).toEqual([2, 0]);
  });
});

describe("mechanisms", () => {
  const deltas = [Float32Array.from([3, 4]), Float32Array.from([0.5, -0.25]), Float32Array.from([-1, 2])];

  it("secure aggregation's ring sum equals the plain sum within the codec's quantisation", () => {
    const plain = aggregateSum(deltas, { secureAggregation: false });
    const ring = aggregateSum(deltas, { secureAggregation: true });
    expect(Array.from(plain)).toEqual([2.5, 5.75]);
    ring.forEach((v, i) => {
      expect(Math.abs(v - (plain[i] as number))).toBeLessThan(1e-6);
    });
  });

  it("clips to C before noise and splits the noise across sites under secure aggregation", () => {
    const dp = { placement: "site" as const, clipNorm: 1, noiseMultiplier: 0 };
    // ‖(3, 4)‖ = 5, clipped to norm 1: (0.6, 0.8).
    const clipped = clientUpdate(deltas[0] as Float32Array, { secureAggregation: false, dp }, 3);
    expect(clipped[0]).toBeCloseTo(0.6, 6);
    expect(clipped[1]).toBeCloseTo(0.8, 6);
    const noisy = { placement: "site" as const, clipNorm: 2, noiseMultiplier: 1.5 };
    expect(siteNoiseStd({ secureAggregation: false, dp: noisy }, 4)).toBeCloseTo(3, 12);
    expect(siteNoiseStd({ secureAggregation: true, dp: noisy }, 4)).toBeCloseTo(1.5, 12);
    expect(siteNoiseStd({ secureAggregation: true, dp: { ...noisy, placement: "central" } }, 4)).toBe(0);
  });

  it("central noise has standard deviation z·C on the sum, so z·C/n on the mean", () => {
    const zeros = Array.from({ length: 3 }, () => new Float32Array(20_000));
    const mean = protectUpdates(zeros, {
      secureAggregation: false,
      dp: { placement: "central", clipNorm: 2, noiseMultiplier: 1.5 },
    });
    const sd = Math.sqrt(mean.reduce((s, v) => s + v * v, 0) / mean.length);
    expect(sd).toBeGreaterThan(0.97);
    expect(sd).toBeLessThan(1.03);
  });
});
