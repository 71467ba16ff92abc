import type { DisparitySection } from "../../../shared/src/analysis/types.js";
import { classificationReport, sumConfusions } from "../../../shared/src/metrics/index.js";

/**
 * Best and worst site by macro-F1, per-class F1 at each site and pooled (from the summed
 * confusion matrices, so pooled F1 weighs images, not sites), and the hardest classes: those
 * whose pooled F1 is below the pooled macro-F1, hardest first (at least the hardest one).
 */
export function disparities(
  confusions: ReadonlyMap<string, number[][]>,
  classKeys: readonly string[],
): DisparitySection {
  const sites = [...confusions.keys()];
  if (sites.length === 0) throw new RangeError("disparities need at least one site");
  const reports = new Map(
    sites.map((site) => [site, classificationReport(confusions.get(site) as number[][])]),
  );
  const pooled = classificationReport(sumConfusions([...confusions.values()]));
  const ranked = [...sites].sort(
    (a, b) => (reports.get(b)?.macroF1 ?? 0) - (reports.get(a)?.macroF1 ?? 0) || a.localeCompare(b),
  );
  const best = ranked[0] as string;
  const worst = ranked[ranked.length - 1] as string;
  const perClass = classKeys.map((classKey, c) => ({
    classKey,
    bySite: Object.fromEntries(sites.map((site) => [site, reports.get(site)?.perClass[c]?.f1 ?? 0])),
    pooled: pooled.perClass[c]?.f1 ?? 0,
  }));
  const byDifficulty = [...perClass].sort((a, b) => a.pooled - b.pooled);
  const hard = byDifficulty.filter((row) => row.pooled < pooled.macroF1);
  const hardestClasses = (hard.length > 0 ? hard : byDifficulty.slice(0, 1)).map((row) => row.classKey);
  return {
    metric: "macroF1",
    best: { site: best, value: reports.get(best)?.macroF1 ?? 0 },
    worst: { site: worst, value: reports.get(worst)?.macroF1 ?? 0 },
    perClass,
    hardestClasses,
  };
}
