import { ErrorCode, FlError } from "../errors.js";

/**
 * Overlap metrics for binary masks (opacity segmentation). A predicted pixel is foreground when
 * its value is ≥ `threshold` (so probabilities and 0/1 masks both work); a ground-truth pixel is
 * foreground when it is ≥ 0.5 (0/1 masks, or soft masks after resizing).
 *
 * Convention: when both masks are empty the prediction is perfect and Dice = IoU = 1. Negative
 * studies have empty masks, so a model that correctly predicts nothing on them scores 1 per
 * image; this is what makes mean per-image Dice differ from pooled (global) Dice.
 */

const COUNT_KEYS = ["images", "diceSum", "iouSum", "intersection", "predicted", "actual"] as const;

/** Default probability cut-off for a predicted mask. */
export const DEFAULT_MASK_THRESHOLD = 0.5;

/** Sufficient statistics of one or many mask comparisons; plain numbers, summable over sites. */
export interface SegmentationCounts {
  /** Number of images added. */
  readonly images: number;
  /** Σ per-image Dice (for the mean per-image Dice). */
  readonly diceSum: number;
  /** Σ per-image IoU (for the mean per-image IoU). */
  readonly iouSum: number;
  /** Σ |P ∩ T| over all pixels of all images. */
  readonly intersection: number;
  /** Σ |P| (predicted foreground pixels). */
  readonly predicted: number;
  /** Σ |T| (ground-truth foreground pixels). */
  readonly actual: number;
}

export interface SegmentationSummary {
  readonly images: number;
  /** Mean of the per-image Dice scores; NaN when no image was added. */
  readonly meanDice: number;
  /** Mean of the per-image IoU scores; NaN when no image was added. */
  readonly meanIou: number;
  /** 2·Σ|P∩T| / (Σ|P| + Σ|T|) over all pixels pooled (1 when every mask is empty; NaN when no image). */
  readonly globalDice: number;
  /** Σ|P∩T| / Σ|P∪T| over all pixels pooled (1 when every mask is empty; NaN when no image). */
  readonly globalIou: number;
}

/** Dice = 2|P∩T| / (|P| + |T|); 1 when both masks are empty. */
export function diceScore(
  pred: ArrayLike<number>,
  truth: ArrayLike<number>,
  threshold: number = DEFAULT_MASK_THRESHOLD,
): number {
  const { intersection, predicted, actual } = overlap(pred, truth, threshold);
  return diceOf(intersection, predicted, actual);
}

/** IoU (Jaccard) = |P∩T| / |P∪T|; 1 when both masks are empty. */
export function iouScore(
  pred: ArrayLike<number>,
  truth: ArrayLike<number>,
  threshold: number = DEFAULT_MASK_THRESHOLD,
): number {
  const { intersection, predicted, actual } = overlap(pred, truth, threshold);
  return iouOf(intersection, predicted, actual);
}

/**
 * Folds many (prediction, truth) mask pairs into per-image and pooled scores without keeping
 * the masks. Sites can send `counts()` to be `merge`d, giving pooled Dice over sites.
 */
export class SegmentationAccumulator {
  private images = 0;
  private diceSum = 0;
  private iouSum = 0;
  private intersection = 0;
  private predicted = 0;
  private actual = 0;

  /** @param threshold cut-off applied to every predicted mask added (default 0.5). */
  constructor(private readonly threshold: number = DEFAULT_MASK_THRESHOLD) {
    checkThreshold(threshold);
  }

  /** Adds one image's predicted mask (probabilities or 0/1) and its ground-truth mask. */
  add(pred: ArrayLike<number>, truth: ArrayLike<number>): void {
    const { intersection, predicted, actual } = overlap(pred, truth, this.threshold);
    this.images += 1;
    this.diceSum += diceOf(intersection, predicted, actual);
    this.iouSum += iouOf(intersection, predicted, actual);
    this.intersection += intersection;
    this.predicted += predicted;
    this.actual += actual;
  }

  /** Adds counts from elsewhere (another site's accumulator). */
  merge(counts: SegmentationCounts): void {
    for (const key of COUNT_KEYS) {
      const value: unknown = counts[key];
      if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
        throw new FlError(
          ErrorCode.InvalidArgument,
          `segmentation count "${key}" is ${String(value)}; counts must be finite numbers ≥ 0`,
        );
      }
    }
    this.images += counts.images;
    this.diceSum += counts.diceSum;
    this.iouSum += counts.iouSum;
    this.intersection += counts.intersection;
    this.predicted += counts.predicted;
    this.actual += counts.actual;
  }

  counts(): SegmentationCounts {
    return {
      images: this.images,
      diceSum: this.diceSum,
      iouSum: this.iouSum,
      intersection: this.intersection,
      predicted: this.predicted,
      actual: this.actual,
    };
  }

  summary(): SegmentationSummary {
    return summarizeSegmentation(this.counts());
  }
}

/** Mean per-image and pooled Dice/IoU from counts (e.g. counts summed over sites). */
export function summarizeSegmentation(counts: SegmentationCounts): SegmentationSummary {
  const { images } = counts;
  if (images === 0) {
    return {
      images,
      meanDice: Number.NaN,
      meanIou: Number.NaN,
      globalDice: Number.NaN,
      globalIou: Number.NaN,
    };
  }
  return {
    images,
    meanDice: counts.diceSum / images,
    meanIou: counts.iouSum / images,
    globalDice: diceOf(counts.intersection, counts.predicted, counts.actual),
    globalIou: iouOf(counts.intersection, counts.predicted, counts.actual),
  };
}

function diceOf(intersection: number, predicted: number, actual: number): number {
  const total = predicted + actual;
  return total === 0 ? 1 : (2 * intersection) / total;
}

function iouOf(intersection: number, predicted: number, actual: number): number {
  const union = predicted + actual - intersection;
  return union === 0 ? 1 : intersection / union;
}

function overlap(
  pred: ArrayLike<number>,
  truth: ArrayLike<number>,
  threshold: number,
): { intersection: number; predicted: number; actual: number } {
  checkThreshold(threshold);
  if (pred.length !== truth.length) {
    throw new FlError(
      ErrorCode.InvalidArgument,
      `predicted mask has ${pred.length} pixels but the ground truth has ${truth.length}; ` +
        "resize them to the same shape first",
    );
  }
  let intersection = 0;
  let predicted = 0;
  let actual = 0;
  for (let i = 0; i < pred.length; i++) {
    const p = pred[i] as number;
    const t = truth[i] as number;
    if (Number.isNaN(p) || Number.isNaN(t)) {
      throw new FlError(
        ErrorCode.InvalidArgument,
        `mask pixel ${i} is NaN (prediction ${p}, truth ${t}); masks must be numbers`,
      );
    }
    const inPred = p >= threshold;
    const inTruth = t >= 0.5;
    if (inPred) predicted++;
    if (inTruth) actual++;
    if (inPred && inTruth) intersection++;
  }
  return { intersection, predicted, actual };
}

function checkThreshold(threshold: number): void {
  if (typeof threshold !== "number" || !Number.isFinite(threshold)) {
    throw new FlError(ErrorCode.InvalidArgument, `mask threshold must be a finite number, got ${threshold}`);
  }
}
