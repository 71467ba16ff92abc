/**
 * Splits `total` into integer counts proportional to `weights` (largest remainder), so that a
 * small set still matches the requested proportions as closely as integers allow.
 */
export function allocateCounts(total: number, weights: readonly number[]): number[] {
  const sum = weights.reduce((s, w) => s + w, 0);
  if (!(sum > 0)) throw new RangeError("allocateCounts needs a positive weight");
  const exact = weights.map((w) => (total * w) / sum);
  const counts = exact.map((x) => Math.floor(x));
  let left = total - counts.reduce((s, c) => s + c, 0);
  const order = exact
    // Rounded so that float noise (weights summing to 1.0000000000000002) cannot reorder ties;
    // ties go to the lower index.
    .map((x, i) => ({ i, rem: Math.round((x - Math.floor(x)) * 1e9) }))
    .sort((p, q) => q.rem - p.rem || p.i - q.i);
  for (const { i } of order) {
    if (left <= 0) break;
    counts[i] = (counts[i] ?? 0) + 1;
    left--;
  }
  return counts;
}
