/**
 * How close a reconstruction is to the true image: PSNR, and SSIM written from its definition
 * (Wang, Bovik, Sheikh & Simoncelli 2004, "Image quality assessment: from error visibility to
 * structural similarity", eq. 13 with the paper's 11×11 Gaussian window, σ = 1.5, K1 = 0.01,
 * K2 = 0.03). Written here because no maintained npm package computes SSIM on plain float
 * arrays without decoding image files or pulling in canvas. Images are row-major size×size
 * grayscale in [0, 1] (dynamic range L = 1).
 */

/** A square weighting window whose weights sum to 1. */
export interface SsimWindow {
  readonly size: number;
  readonly weights: Float64Array;
}

/** Wang et al.'s circular-symmetric Gaussian weighting function, normalised to unit sum. */
export function gaussianWindow(size = 11, sigma = 1.5): SsimWindow {
  if (!Number.isInteger(size) || size < 1)
    throw new RangeError(`window size ${size} must be a positive integer`);
  const weights = new Float64Array(size * size);
  const centre = (size - 1) / 2;
  let total = 0;
  for (let i = 0; i < size; i++) {
    for (let j = 0; j < size; j++) {
      const w = Math.exp(-((i - centre) ** 2 + (j - centre) ** 2) / (2 * sigma * sigma));
      weights[i * size + j] = w;
      total += w;
    }
  }
  for (let k = 0; k < weights.length; k++) weights[k] = (weights[k] as number) / total;
  return { size, weights };
}

/** Equal weights: the plain local statistics of the paper's eq. 14–16 over a size×size block. */
export function uniformWindow(size: number): SsimWindow {
  return { size, weights: new Float64Array(size * size).fill(1 / (size * size)) };
}

export const SSIM_K1 = 0.01;
export const SSIM_K2 = 0.03;

/**
 * Mean SSIM over every window position that lies fully inside the image ("valid" windows, as the
 * paper's MSSIM, eq. 17). Symmetric, at most 1, and 1 only for identical images.
 */
export function ssim(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  size: number,
  window: SsimWindow = gaussianWindow(),
): number {
  checkPair(x, y, size);
  const w = window.size;
  if (w > size) throw new RangeError(`the ${w}×${w} SSIM window does not fit a ${size}×${size} image`);
  const c1 = SSIM_K1 ** 2;
  const c2 = SSIM_K2 ** 2;
  let total = 0;
  let count = 0;
  for (let top = 0; top + w <= size; top++) {
    for (let left = 0; left + w <= size; left++) {
      let mx = 0;
      let my = 0;
      for (let i = 0; i < w; i++) {
        for (let j = 0; j < w; j++) {
          const weight = window.weights[i * w + j] as number;
          const p = (top + i) * size + left + j;
          mx += weight * (x[p] as number);
          my += weight * (y[p] as number);
        }
      }
      let vx = 0;
      let vy = 0;
      let cxy = 0;
      for (let i = 0; i < w; i++) {
        for (let j = 0; j < w; j++) {
          const weight = window.weights[i * w + j] as number;
          const p = (top + i) * size + left + j;
          const dx = (x[p] as number) - mx;
          const dy = (y[p] as number) - my;
          vx += weight * dx * dx;
          vy += weight * dy * dy;
          cxy += weight * dx * dy;
        }
      }
      total += ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
      count++;
    }
  }
  return total / count;
}

/** Peak signal-to-noise ratio in dB for dynamic range 1; Infinity for identical images. */
export function psnr(x: ArrayLike<number>, y: ArrayLike<number>, size: number): number {
  checkPair(x, y, size);
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += ((x[i] as number) - (y[i] as number)) ** 2;
  const mse = sum / x.length;
  return 10 * Math.log10(1 / mse);
}

function checkPair(x: ArrayLike<number>, y: ArrayLike<number>, size: number): void {
  if (x.length !== size * size || y.length !== size * size) {
    throw new RangeError(`images of ${x.length} and ${y.length} values are not both ${size}×${size}`);
  }
}

/** One true image's score against the reconstruction it was matched with. */
export interface MatchedScore {
  readonly truth: number;
  readonly reconstruction: number;
  readonly psnr: number;
  readonly ssim: number;
}

/**
 * Pairs reconstructions with true images one to one (a batch's order is not recoverable from its
 * gradient) by the assignment of highest mean PSNR, tried exhaustively: batches here are ≤ 8.
 */
export function bestMatch(
  truths: readonly ArrayLike<number>[],
  reconstructions: readonly ArrayLike<number>[],
  size: number,
  window?: SsimWindow,
): MatchedScore[] {
  const n = truths.length;
  if (reconstructions.length !== n)
    throw new RangeError(`${reconstructions.length} reconstructions for ${n} images`);
  if (n > 8)
    throw new RangeError(`exhaustive matching of ${n} images is too slow; use batches of 8 or fewer`);
  const table = truths.map((t) => reconstructions.map((r) => psnr(t, r, size)));
  let best: number[] = [];
  let bestScore = -Infinity;
  const visit = (prefix: number[], score: number): void => {
    if (prefix.length === n) {
      if (score > bestScore) {
        bestScore = score;
        best = [...prefix];
      }
      return;
    }
    for (let r = 0; r < n; r++) {
      if (!prefix.includes(r)) visit([...prefix, r], score + (table[prefix.length]?.[r] as number));
    }
  };
  visit([], 0);
  return best.map((r, t) => ({
    truth: t,
    reconstruction: r,
    psnr: table[t]?.[r] as number,
    ssim: ssim(truths[t] as ArrayLike<number>, reconstructions[r] as ArrayLike<number>, size, window),
  }));
}
