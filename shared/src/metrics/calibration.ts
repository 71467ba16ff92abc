import { coarseBin } from "./binning.js";
import type { BoundedValue, ConfidenceBins, ReliabilityBin } from "./evaluation-statistics.js";

/**
 * Calibration measures from binned confidences. Top-label: bins of max_c P(c) with how many were
 * right. Class-wise: bins of P(class) with how many were of the class. Both come as fine bins
 * and are read at `target` equal-width bins (exact when `target` divides the fine count).
 */

/**
 * Equal-width reliability bins: per coarse bin the number of images, their mean prediction and
 * the observed share (`observed` counts the right answers or the positives). Empty bins report 0.
 */
export function reliabilityBins(
  count: ArrayLike<number>,
  observed: ArrayLike<number>,
  predictedSum: ArrayLike<number>,
  target: number,
): ReliabilityBin[] {
  const counts = new Float64Array(target);
  const hits = new Float64Array(target);
  const sums = new Float64Array(target);
  for (let b = 0; b < count.length; b++) {
    const j = coarseBin(b, count.length, target);
    counts[j] = (counts[j] as number) + (count[b] as number);
    hits[j] = (hits[j] as number) + (observed[b] as number);
    sums[j] = (sums[j] as number) + (predictedSum[b] as number);
  }
  const bins: ReliabilityBin[] = [];
  for (let j = 0; j < target; j++) {
    const n = counts[j] as number;
    bins.push({
      low: j / target,
      high: (j + 1) / target,
      count: n,
      meanPredicted: n === 0 ? 0 : (sums[j] as number) / n,
      observed: n === 0 ? 0 : (hits[j] as number) / n,
    });
  }
  return bins;
}

export interface CalibrationError {
  /** Σ_j (n_j / n)·|accuracy_j − confidence_j| (Naeini et al. 2015); 0 when there are no images. */
  readonly ece: number;
  /** max_j |accuracy_j − confidence_j| over non-empty bins. */
  readonly mce: number;
  readonly reliability: ReliabilityBin[];
}

/** Top-label ECE, MCE and reliability diagram with `target` equal-width bins. */
export function calibrationError(confidence: ConfidenceBins, target: number): CalibrationError {
  const reliability = reliabilityBins(confidence.count, confidence.correct, confidence.confidenceSum, target);
  let total = 0;
  let weighted = 0;
  let mce = 0;
  for (const bin of reliability) {
    if (bin.count === 0) continue;
    const gap = Math.abs(bin.observed - bin.meanPredicted);
    total += bin.count;
    weighted += bin.count * gap;
    if (gap > mce) mce = gap;
  }
  return { ece: total === 0 ? 0 : weighted / total, mce, reliability };
}

/**
 * Adaptive (equal-mass) ECE (Nixon et al. 2019) with `groups` groups. The per-image definition
 * sorts the n images by confidence and cuts at ranks r_j = ⌊j·n/groups⌋; here every cut moves to
 * the fine-bin edge nearest r_j, since images inside a fine bin cannot be told apart.
 *
 * Bound: the m_j = |e_j − r_j| images between the exact and the binned cut all lie in the fine bin
 * b_j the cut falls in, and moving one of them to the neighbouring group changes each of the two
 * groups' |Σ(correct − confidence)| by at most its own |correct − confidence|, which is at most
 * 1 − b/bins if it was right and (b+1)/bins if wrong. So |exact − binned| ≤ 2·Σ_j G_j / n, where
 * G_j is the largest total those m_j images can carry given bin b_j's right and wrong counts. It is
 * small when no fine bin (width 1/bins) holds many images, and stated for the data at hand.
 */
export function adaptiveCalibrationError(confidence: ConfidenceBins, groups: number): BoundedValue {
  const bins = confidence.count.length;
  const edges = new Float64Array(bins + 1);
  for (let b = 0; b < bins; b++) edges[b + 1] = (edges[b] as number) + (confidence.count[b] as number);
  const n = edges[bins] as number;
  if (n === 0) return { value: 0, errorBound: 0 };
  const cuts = [0];
  let moved = 0;
  let e = 0;
  for (let j = 1; j < groups; j++) {
    const rank = Math.floor((j * n) / groups);
    // Ranks only grow with j, so the search resumes where the last cut was: edges[e] ≤ rank < edges[e + 1].
    while (e < bins && (edges[e + 1] as number) <= rank) e++;
    const below = rank - (edges[e] as number);
    const cut = e < bins && (edges[e + 1] as number) - rank < below ? e + 1 : e;
    if (e < bins) moved += movedGap(confidence, e, Math.abs((edges[cut] as number) - rank));
    cuts.push(cut);
  }
  cuts.push(bins);
  let sum = 0;
  for (let g = 0; g + 1 < cuts.length; g++) {
    let correct = 0;
    let confidenceSum = 0;
    for (let b = cuts[g] as number; b < (cuts[g + 1] as number); b++) {
      correct += confidence.correct[b] as number;
      confidenceSum += confidence.confidenceSum[b] as number;
    }
    sum += Math.abs(correct - confidenceSum);
  }
  return { value: sum / n, errorBound: (2 * moved) / n };
}

/**
 * The most Σ|correct − confidence| that `m` images of fine bin b can carry: a right answer carries
 * 1 − p ≤ 1 − b/bins, a wrong one p < (b+1)/bins; take the larger kind first.
 */
function movedGap(confidence: ConfidenceBins, b: number, m: number): number {
  if (m === 0) return 0;
  const bins = confidence.count.length;
  const right = confidence.correct[b] as number;
  const wrong = (confidence.count[b] as number) - right;
  const rightGap = 1 - b / bins;
  const wrongGap = (b + 1) / bins;
  const [firstCount, firstGap, secondGap] =
    rightGap >= wrongGap ? [right, rightGap, wrongGap] : [wrong, wrongGap, rightGap];
  const first = Math.min(m, firstCount);
  return first * firstGap + Math.min(m - first, right + wrong - firstCount) * secondGap;
}
