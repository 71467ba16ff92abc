import type { BoundedValue, CurvePoint } from "./evaluation-statistics.js";

/**
 * ROC-AUC and average precision from one class's one-vs-rest score histograms (bins in
 * ascending score order), with how far the exact per-image value can be from them. Pairs or
 * images in different bins are ordered exactly (binning is monotone); only the order inside a
 * bin is unknown, and the bounds below take the best and the worst order inside every bin.
 */

/** Most points a drawn ROC or PR curve keeps. */
export const MAX_CURVE_POINTS = 201;

/**
 * Binned Mann–Whitney AUC: pairs in different bins count 1 or 0, pairs in the same bin ½. The
 * exact AUC counts each same-bin pair 0, ½ or 1, so it lies within Σ_b pos_b·neg_b / (2·P·N).
 * Null when the class has no positives or no negatives.
 */
export function binnedAuc(positive: ArrayLike<number>, negative: ArrayLike<number>): BoundedValue | null {
  let numPositive = 0;
  let numNegative = 0;
  for (let b = 0; b < positive.length; b++) {
    numPositive += positive[b] as number;
    numNegative += negative[b] as number;
  }
  if (numPositive === 0 || numNegative === 0) return null;
  let negativesBelow = 0;
  let wins = 0;
  let tiedPairs = 0;
  for (let b = 0; b < positive.length; b++) {
    const pos = positive[b] as number;
    const neg = negative[b] as number;
    wins += pos * negativesBelow;
    tiedPairs += pos * neg;
    negativesBelow += neg;
  }
  const pairs = numPositive * numNegative;
  return { value: (wins + tiedPairs / 2) / pairs, errorBound: tiedPairs / (2 * pairs) };
}

/**
 * Average precision as scikit-learn defines it, AP = (1/P) Σ_positives precision at the end of
 * the positive's tie group (scores in decreasing order), bounded from the histograms.
 *
 * Derivation of the bound. Walk the bins from the highest score down; let A and F be the
 * positives and negatives in the bins above bin b, p and q the positives and negatives in b.
 * Every image above b outscores every image in b, so a positive of bin b is evaluated at a cut
 * with A + k ≤ TP ≤ A + p and F ≤ FP ≤ F + q, where k is its position among b's positives
 * (its tie group ends at or after it) — whatever the order or the ties inside b. Precision
 * TP / (TP + FP) grows with TP and falls with FP, hence
 *   lower_b = Σ_{k=1..p} (A + k) / (A + k + F + q)   (b's negatives all first, positives distinct),
 *   upper_b = p · (A + p) / (A + p + F)             (b's positives all tied, ahead of its negatives);
 * both orders can occur, and each bin's order changes only its own positives' precision, so the
 * exact AP lies in [Σ lower_b, Σ upper_b] / P. The value returned is the midpoint and the bound
 * half the width. Null when the class has no positives (AP is then undefined).
 */
export function binnedAveragePrecision(
  positive: ArrayLike<number>,
  negative: ArrayLike<number>,
): BoundedValue | null {
  let numPositive = 0;
  for (let b = 0; b < positive.length; b++) numPositive += positive[b] as number;
  if (numPositive === 0) return null;
  let above = 0;
  let falseAbove = 0;
  let lower = 0;
  let upper = 0;
  for (let b = positive.length - 1; b >= 0; b--) {
    const pos = positive[b] as number;
    const neg = negative[b] as number;
    if (pos > 0) {
      upper += (pos * (above + pos)) / (above + pos + falseAbove);
      for (let k = 1; k <= pos; k++) lower += (above + k) / (above + k + falseAbove + neg);
    }
    above += pos;
    falseAbove += neg;
  }
  return {
    value: (lower + upper) / (2 * numPositive),
    errorBound: Math.max(0, upper - lower) / (2 * numPositive),
  };
}

/** ROC curve (x = FPR, y = TPR) with one threshold per bin edge; empty when undefined. */
export function binnedRocCurve(positive: ArrayLike<number>, negative: ArrayLike<number>): CurvePoint[] {
  const { numPositive, numNegative } = totals(positive, negative);
  if (numPositive === 0 || numNegative === 0) return [];
  const points: CurvePoint[] = [{ x: 0, y: 0 }];
  let tp = 0;
  let fp = 0;
  for (let b = positive.length - 1; b >= 0; b--) {
    tp += positive[b] as number;
    fp += negative[b] as number;
    pushDistinct(points, { x: fp / numNegative, y: tp / numPositive });
  }
  return thin(points);
}

/** Precision–recall curve (x = recall, y = precision) starting at (0, 1); empty without positives. */
export function binnedPrCurve(positive: ArrayLike<number>, negative: ArrayLike<number>): CurvePoint[] {
  const { numPositive } = totals(positive, negative);
  if (numPositive === 0) return [];
  const points: CurvePoint[] = [{ x: 0, y: 1 }];
  let tp = 0;
  let fp = 0;
  for (let b = positive.length - 1; b >= 0; b--) {
    tp += positive[b] as number;
    fp += negative[b] as number;
    if (tp + fp > 0) pushDistinct(points, { x: tp / numPositive, y: tp / (tp + fp) });
  }
  return thin(points);
}

function totals(
  positive: ArrayLike<number>,
  negative: ArrayLike<number>,
): { numPositive: number; numNegative: number } {
  let numPositive = 0;
  let numNegative = 0;
  for (let b = 0; b < positive.length; b++) {
    numPositive += positive[b] as number;
    numNegative += negative[b] as number;
  }
  return { numPositive, numNegative };
}

function pushDistinct(points: CurvePoint[], point: CurvePoint): void {
  const last = points[points.length - 1];
  if (last === undefined || last.x !== point.x || last.y !== point.y) points.push(point);
}

/** Keeps MAX_CURVE_POINTS evenly spaced points (first and last included) of a longer curve. */
function thin(points: CurvePoint[]): CurvePoint[] {
  if (points.length <= MAX_CURVE_POINTS) return points;
  const out: CurvePoint[] = [];
  for (let i = 0; i < MAX_CURVE_POINTS; i++) {
    out.push(points[Math.round((i * (points.length - 1)) / (MAX_CURVE_POINTS - 1))] as CurvePoint);
  }
  return out;
}
