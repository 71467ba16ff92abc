import { ErrorCode, FlError } from "../errors.js";

/**
 * Threshold-free ranking metrics (ROC AUC, average precision) for binary and one-vs-rest
 * multi-class scores. These are the metrics the SIIM-FISABIO-RSNA study-level task is scored
 * with (mAP over the four classes), so they follow scikit-learn's definitions exactly,
 * including how tied scores are treated.
 */

/** Per-class and macro ranking metrics of an n×k score matrix against integer labels. */
export interface OneVsRestRanking {
  /** ROC AUC of class c against the rest; NaN where the class is absent or is every example. */
  readonly auc: number[];
  /** Average precision of class c against the rest; NaN where the class has no examples. */
  readonly ap: number[];
  /** Mean of the non-NaN entries of `auc`; NaN when all are NaN. */
  readonly macroAuc: number;
  /** Mean of the non-NaN entries of `ap` (the SIIM study-level metric); NaN when all are NaN. */
  readonly mAP: number;
}

/**
 * Area under the ROC curve by the Mann–Whitney U statistic: the probability that a random
 * positive scores higher than a random negative, ties counting 1/2 (average ranks). Equals
 * scikit-learn's roc_auc_score. NaN when only one class is present, because the AUC is then
 * undefined (scikit-learn raises); macro means skip it.
 *
 * @param scores higher = more likely positive; finite or ±Infinity, never NaN.
 * @param positives true/1 for a positive example, false/0 for a negative one.
 */
export function rocAuc(scores: ArrayLike<number>, positives: ArrayLike<boolean | number>): number {
  const labels = binaryLabels(scores, positives);
  const numPositive = countPositives(labels);
  const numNegative = labels.length - numPositive;
  if (numPositive === 0 || numNegative === 0) return Number.NaN;

  const order = sortedIndices(scores, "ascending");
  // Sum of the (1-based, tie-averaged) ranks of the positives.
  let positiveRankSum = 0;
  let start = 0;
  while (start < order.length) {
    const end = tieGroupEnd(scores, order, start);
    const averageRank = (start + 1 + end) / 2; // ranks start+1 .. end
    for (let i = start; i < end; i++) if (labels[order[i] as number] === 1) positiveRankSum += averageRank;
    start = end;
  }
  const u = positiveRankSum - (numPositive * (numPositive + 1)) / 2;
  return u / (numPositive * numNegative);
}

/**
 * Average precision as scikit-learn's average_precision_score: Σₙ (Rₙ − Rₙ₋₁)·Pₙ over the
 * distinct score thresholds in decreasing order (R₀ = 0), where Pₙ and Rₙ are the precision and
 * recall when every example scoring ≥ the n-th threshold is called positive. Tied scores enter
 * together; there is no interpolation. NaN when there are no positives (recall is undefined).
 *
 * @param scores higher = more likely positive; finite or ±Infinity, never NaN.
 * @param positives true/1 for a positive example, false/0 for a negative one.
 */
export function averagePrecision(scores: ArrayLike<number>, positives: ArrayLike<boolean | number>): number {
  const labels = binaryLabels(scores, positives);
  const numPositive = countPositives(labels);
  if (numPositive === 0) return Number.NaN;

  const order = sortedIndices(scores, "descending");
  let truePositives = 0;
  let falsePositives = 0;
  let sum = 0;
  let start = 0;
  while (start < order.length) {
    const end = tieGroupEnd(scores, order, start);
    let groupPositives = 0;
    for (let i = start; i < end; i++) groupPositives += labels[order[i] as number] as number;
    truePositives += groupPositives;
    falsePositives += end - start - groupPositives;
    // A group without positives leaves recall unchanged and adds nothing.
    if (groupPositives > 0) {
      sum += (groupPositives / numPositive) * (truePositives / (truePositives + falsePositives));
    }
    start = end;
  }
  return sum;
}

/**
 * One-vs-rest ROC AUC and average precision for each class of a row-major n×k probability (or
 * score) matrix, and their macro means over the classes where they are defined.
 *
 * @param probabilities n×numClasses values, row i holding example i's scores.
 * @param labels n integer class indices in [0, numClasses).
 */
export function oneVsRest(
  probabilities: Float32Array,
  labels: ArrayLike<number>,
  numClasses: number,
): OneVsRestRanking {
  if (!Number.isSafeInteger(numClasses) || numClasses < 1) {
    throw new FlError(ErrorCode.InvalidArgument, `numClasses must be a positive integer, got ${numClasses}`);
  }
  if (probabilities.length !== labels.length * numClasses) {
    throw new FlError(
      ErrorCode.InvalidArgument,
      `${probabilities.length} scores do not make ${labels.length} rows of ${numClasses} classes; ` +
        "pass one row of class scores per label",
    );
  }
  const n = labels.length;
  for (let i = 0; i < n; i++) {
    const label = labels[i] as number;
    if (!Number.isInteger(label) || label < 0 || label >= numClasses) {
      throw new FlError(
        ErrorCode.InvalidArgument,
        `label at index ${i} is ${label}; labels must be integers in [0, ${numClasses})`,
      );
    }
  }
  const auc: number[] = [];
  const ap: number[] = [];
  const column = new Float64Array(n);
  const isClass = new Uint8Array(n);
  for (let c = 0; c < numClasses; c++) {
    for (let i = 0; i < n; i++) {
      column[i] = probabilities[i * numClasses + c] as number;
      isClass[i] = labels[i] === c ? 1 : 0;
    }
    auc.push(rocAuc(column, isClass));
    ap.push(averagePrecision(column, isClass));
  }
  return { auc, ap, macroAuc: meanOfDefined(auc), mAP: meanOfDefined(ap) };
}

function meanOfDefined(values: readonly number[]): number {
  let sum = 0;
  let count = 0;
  for (const value of values) {
    if (Number.isNaN(value)) continue;
    sum += value;
    count += 1;
  }
  return count === 0 ? Number.NaN : sum / count;
}

/** Validates the pair and returns the labels as 0/1. */
function binaryLabels(scores: ArrayLike<number>, positives: ArrayLike<boolean | number>): Uint8Array {
  if (scores.length !== positives.length) {
    throw new FlError(
      ErrorCode.InvalidArgument,
      `${scores.length} scores but ${positives.length} labels; they must pair up`,
    );
  }
  const labels = new Uint8Array(scores.length);
  for (let i = 0; i < scores.length; i++) {
    const score = scores[i] as number;
    if (typeof score !== "number" || Number.isNaN(score)) {
      throw new FlError(ErrorCode.InvalidArgument, `score at index ${i} is ${score}; scores must be numbers`);
    }
    const label = positives[i];
    if (label === true || label === 1) labels[i] = 1;
    else if (label !== false && label !== 0) {
      throw new FlError(
        ErrorCode.InvalidArgument,
        `label at index ${i} is ${String(label)}; binary labels must be true/false or 1/0`,
      );
    }
  }
  return labels;
}

function countPositives(labels: Uint8Array): number {
  let count = 0;
  for (const label of labels) count += label;
  return count;
}

function sortedIndices(input: ArrayLike<number>, direction: "ascending" | "descending"): Uint32Array {
  // A monomorphic Float64Array keeps the comparator fast whatever array type came in.
  const scores = Float64Array.from(input);
  const order = new Uint32Array(scores.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  const sign = direction === "ascending" ? 1 : -1;
  // Compare rather than subtract so that ±Infinity sort correctly.
  return order.sort((a, b) => {
    const x = scores[a] as number;
    const y = scores[b] as number;
    return x < y ? -sign : x > y ? sign : 0;
  });
}

/** One past the last position of the run of equal scores that starts at `start`. */
function tieGroupEnd(scores: ArrayLike<number>, order: Uint32Array, start: number): number {
  const value = scores[order[start] as number];
  let end = start + 1;
  while (end < order.length && scores[order[end] as number] === value) end++;
  return end;
}
