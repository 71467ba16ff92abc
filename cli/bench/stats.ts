/**
 * Means over seeds with Student-t confidence intervals, and differences between settings paired
 * by seed (the same seed draws the same hospitals' images and the same initial weights, so the
 * seed is the unit of replication). Pure.
 */

import tQuantile from "@stdlib/stats-base-dists-t-quantile";

export interface Estimate {
  /** Finite values used (non-finite ones are dropped). */
  readonly n: number;
  /** NaN when n = 0. */
  readonly mean: number;
  /** Sample standard deviation (n − 1); NaN when n < 2. */
  readonly sd: number;
  /** Two-sided 95 % Student-t interval with n − 1 degrees of freedom; NaN when n < 2. */
  readonly low: number;
  readonly high: number;
}

export const CONFIDENCE = 0.95;

export function estimate(values: readonly number[]): Estimate {
  const finite = values.filter((v) => Number.isFinite(v));
  const n = finite.length;
  const mean = n === 0 ? Number.NaN : finite.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { n, mean, sd: Number.NaN, low: Number.NaN, high: Number.NaN };
  const sd = Math.sqrt(finite.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
  const half = tQuantile(1 - (1 - CONFIDENCE) / 2, n - 1) * (sd / Math.sqrt(n));
  return { n, mean, sd, low: mean - half, high: mean + half };
}

/** A value per seed. */
export type BySeed = ReadonlyMap<number, number>;

export interface PairedEstimate extends Estimate {
  /** The seeds both sides have a finite value for, ascending. */
  readonly seeds: readonly number[];
  /** a − b per seed, in the order of `seeds`. */
  readonly differences: readonly number[];
}

/** a − b over the seeds both have; seeds only one side has are left out, never imputed. */
export function pairedDifference(a: BySeed, b: BySeed): PairedEstimate {
  const seeds = [...a.keys()]
    .filter((s) => Number.isFinite(a.get(s)) && Number.isFinite(b.get(s)))
    .sort((x, y) => x - y);
  const differences = seeds.map((s) => (a.get(s) as number) - (b.get(s) as number));
  return { ...estimate(differences), seeds, differences };
}

export type Verdict = "holds" | "does not hold" | "cannot be told apart" | "no data";

/**
 * A claim "a > b" holds when the whole interval of a − b is above 0, does not hold when it is
 * below, and cannot be told apart at this scale when it contains 0 (or there is only one seed).
 */
export function verdictOf(e: Estimate): Verdict {
  if (e.n === 0) return "no data";
  if (e.n < 2 || !(e.low > 0 || e.high < 0)) return "cannot be told apart";
  return e.low > 0 ? "holds" : "does not hold";
}

/** "0.315 ± 0.045" (half-width of the 95 % interval), "0.315 (n = 1)" for one seed, "n/a" for none. */
export function formatEstimate(e: Estimate, digits = 3): string {
  if (e.n === 0) return "n/a";
  if (e.n === 1) return `${e.mean.toFixed(digits)} (n = 1)`;
  return `${e.mean.toFixed(digits)} ± ${((e.high - e.low) / 2).toFixed(digits)}`;
}

/** "[−0.012, 0.034]", or "—" when there is no interval. */
export function formatInterval(e: Estimate, digits = 3): string {
  if (e.n < 2) return e.n === 1 ? "(n = 1)" : "—";
  return `[${signed(e.low, digits)}, ${signed(e.high, digits)}]`;
}

/** A number with an explicit sign ("+0.012", "−0.034"), for differences. */
export function signed(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return "n/a";
  return value < 0 ? `−${(-value).toFixed(digits)}` : `+${value.toFixed(digits)}`;
}
