import { Rng } from "../random.js";
import type { BootstrapReplicate, Interval } from "./evaluation-statistics.js";
import type { SegmentationCounts } from "./segmentation.js";

/**
 * Stratified bootstrap of a site's test images, done where the images are: each replicate draws,
 * for every true class, as many images of that class as there are, with replacement, so class
 * prevalence is the same in every replicate. What leaves the site is only each replicate's
 * confusion matrix and coarse score histograms (and summed segmentation counts).
 */

/** Per-image facts a replicate needs, precomputed once. */
export interface BootstrapImages {
  readonly numClasses: number;
  readonly labels: Int32Array;
  readonly predicted: Int32Array;
  /** n × numClasses bins (of `bins`) of P(class). */
  readonly scoreBins: Int32Array;
  readonly bins: number;
  readonly segmentation?: ReadonlyArray<SegmentationCounts>;
}

/**
 * The random stream of the evaluation bootstrap: derived from the seed under its own label, so it
 * shares nothing with the data or training streams seeded from the same number.
 */
export function bootstrapRng(seed: number): Rng {
  return Rng.derive(seed, "evaluation-bootstrap");
}

export function stratifiedReplicates(
  images: BootstrapImages,
  replicates: number,
  seed: number,
): BootstrapReplicate[] {
  const { numClasses: k, labels, predicted, scoreBins, bins, segmentation } = images;
  const members: Int32Array[] = [];
  for (let c = 0; c < k; c++) {
    let size = 0;
    for (const label of labels) if (label === c) size++;
    const list = new Int32Array(size);
    let at = 0;
    for (let i = 0; i < labels.length; i++) if (labels[i] === c) list[at++] = i;
    members.push(list);
  }
  const rng = bootstrapRng(seed);
  const out: BootstrapReplicate[] = [];
  const confusion = new Float64Array(k * k);
  const positive = new Float64Array(k * bins);
  const negative = new Float64Array(k * bins);
  for (let r = 0; r < replicates; r++) {
    confusion.fill(0);
    positive.fill(0);
    negative.fill(0);
    const seg = { images: 0, diceSum: 0, iouSum: 0, intersection: 0, predicted: 0, actual: 0 };
    for (let c = 0; c < k; c++) {
      const list = members[c] as Int32Array;
      for (let draw = 0; draw < list.length; draw++) {
        const i = list[rng.int(list.length)] as number;
        const row = c * k + (predicted[i] as number);
        confusion[row] = (confusion[row] as number) + 1;
        for (let j = 0; j < k; j++) {
          const at = j * bins + (scoreBins[i * k + j] as number);
          if (j === c) positive[at] = (positive[at] as number) + 1;
          else negative[at] = (negative[at] as number) + 1;
        }
        if (segmentation !== undefined) addCounts(seg, segmentation[i] as SegmentationCounts);
      }
    }
    const replicate: BootstrapReplicate = {
      confusion: rows(confusion, k, k),
      positive: rows(positive, k, bins),
      negative: rows(negative, k, bins),
      ...(segmentation === undefined ? {} : { segmentation: seg }),
    };
    out.push(replicate);
  }
  return out;
}

function addCounts(
  into: {
    images: number;
    diceSum: number;
    iouSum: number;
    intersection: number;
    predicted: number;
    actual: number;
  },
  counts: SegmentationCounts,
): void {
  into.images += counts.images;
  into.diceSum += counts.diceSum;
  into.iouSum += counts.iouSum;
  into.intersection += counts.intersection;
  into.predicted += counts.predicted;
  into.actual += counts.actual;
}

function rows(values: Float64Array, numRows: number, numColumns: number): number[][] {
  const out: number[][] = [];
  for (let r = 0; r < numRows; r++)
    out.push(Array.from(values.subarray(r * numColumns, (r + 1) * numColumns)));
  return out;
}

/**
 * 95 % percentile interval of replicate values (quantiles by linear interpolation between order
 * statistics, numpy's default), around the given point estimate.
 */
export function percentileInterval(values: readonly number[], estimate: number): Interval {
  const sorted = Float64Array.from(values).sort();
  return {
    estimate,
    low: quantile(sorted, 0.025),
    high: quantile(sorted, 0.975),
    replicates: sorted.length,
  };
}

/** Quantile q of ascending values, linear between order statistics (Hyndman & Fan type 7). */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return (sorted[lo] as number) + (h - lo) * ((sorted[hi] as number) - (sorted[lo] as number));
}
