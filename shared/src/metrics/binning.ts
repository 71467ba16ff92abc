/**
 * The one rule that puts a probability in a bin, shared by everything that builds or reads the
 * evaluation statistics: bin b of B holds [b/B, (b+1)/B), and 1 falls in the last bin. The rule is
 * monotone in p, so binning never reorders two images; this is what makes the binned ranking
 * bounds below valid.
 */
export function scoreBin(p: number, bins: number): number {
  if (p >= 1) return bins - 1;
  if (p <= 0) return 0;
  const b = Math.floor(p * bins);
  return b >= bins ? bins - 1 : b;
}

/**
 * The coarse bin (of `target`) that fine bin b (of `bins`) falls in. When `target` divides `bins`
 * the coarse bins are unions of fine ones, so a coarse statistic summed from fine bins is exactly
 * the statistic a per-image computation with `target` bins gives.
 */
export function coarseBin(b: number, bins: number, target: number): number {
  return Math.floor((b * target) / bins);
}

/** Sums groups of `values.length / to` neighbouring bins (`to` must divide the length). */
export function rebin(values: ArrayLike<number>, to: number): number[] {
  const factor = values.length / to;
  const out = new Array<number>(to).fill(0);
  for (let b = 0; b < values.length; b++) {
    const j = Math.floor(b / factor);
    out[j] = (out[j] as number) + (values[b] as number);
  }
  return out;
}

export function greatestCommonDivisor(a: number, b: number): number {
  let x = Math.abs(a);
  let y = Math.abs(b);
  while (y !== 0) [x, y] = [y, x % y];
  return x;
}
