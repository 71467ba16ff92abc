import { ErrorCode, FlError } from "../errors.js";

/**
 * Weighted mean of each metric over the items that report it with a finite value (a site with a
 * single class has no ROC-AUC, for example). Metrics no item reports finitely are left out.
 * Weights (usually example counts) must be finite and > 0.
 */
export function weightedAverage(
  items: ReadonlyArray<{ weight: number; metrics: Readonly<Record<string, number>> }>,
): Record<string, number> {
  const sums = new Map<string, { weighted: number; weight: number }>();
  for (const [i, item] of items.entries()) {
    if (typeof item.weight !== "number" || !Number.isFinite(item.weight) || item.weight <= 0) {
      throw new FlError(
        ErrorCode.InvalidArgument,
        `Metrics item ${i} has weight ${item.weight}; weights must be > 0`,
      );
    }
    for (const [name, value] of Object.entries(item.metrics)) {
      if (typeof value !== "number" || !Number.isFinite(value)) continue;
      const entry = sums.get(name) ?? { weighted: 0, weight: 0 };
      entry.weighted += item.weight * value;
      entry.weight += item.weight;
      sums.set(name, entry);
    }
  }
  const out: Record<string, number> = {};
  for (const [name, { weighted, weight }] of [...sums.entries()].sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  )) {
    out[name] = weighted / weight;
  }
  return out;
}
