import { ErrorCode, FlError } from "../errors.js";
import { scoreBin } from "./binning.js";
import { stratifiedReplicates } from "./bootstrap.js";
import {
  BOOTSTRAP_SCORE_BINS,
  type EvaluationStatistics,
  MAX_BOOTSTRAP_REPLICATES,
  SCORE_BINS,
  type SiteStatisticsInput,
  type TemperatureScan,
} from "./evaluation-statistics.js";
import {
  DEFAULT_TEMPERATURES,
  logProbabilities,
  temperedCalibration,
  temperedNllSum,
} from "./temperature.js";

/** Rows of probabilities may be off 1 by this much (float32 softmax is off by ~1e-7). */
const ROW_SUM_TOLERANCE = 1e-3;
const MIN_PROBABILITY = 1e-12;

/**
 * A site's sufficient statistics of its evaluation (computed where the images are): per-class
 * fine score histograms, top-label confidence bins, Brier and NLL sums, and on request a
 * stratified bootstrap (seed `bootstrapSeed`, default 0) and a temperature scan.
 */
export function computeSiteStatistics(input: SiteStatisticsInput): EvaluationStatistics {
  const { numClasses: k } = input;
  checkSplit(input.probabilities, input.labels, k, "test");
  const n = input.labels.length;
  const bins = SCORE_BINS;
  const positive = zeros(k, bins);
  const negative = zeros(k, bins);
  const scoreSum = zeros(k, bins);
  const count = new Array<number>(bins).fill(0);
  const correct = new Array<number>(bins).fill(0);
  const confidenceSum = new Array<number>(bins).fill(0);
  const predicted = new Int32Array(n);
  const labels = Int32Array.from(input.labels);
  const replicates = input.bootstrapReplicates ?? 0;
  if (!Number.isSafeInteger(replicates) || replicates < 0 || replicates > MAX_BOOTSTRAP_REPLICATES) {
    throw new FlError(
      ErrorCode.InvalidArgument,
      `bootstrapReplicates is ${replicates}; it must be an integer from 0 to ${MAX_BOOTSTRAP_REPLICATES}`,
    );
  }
  const coarse = replicates > 0 ? new Int32Array(n * k) : undefined;
  let brierSum = 0;
  let nllSum = 0;
  for (let i = 0; i < n; i++) {
    const truth = labels[i] as number;
    let best = 0;
    let top = -1;
    for (let c = 0; c < k; c++) {
      const p = input.probabilities[i * k + c] as number;
      const b = scoreBin(p, bins);
      const histogram = c === truth ? (positive[c] as number[]) : (negative[c] as number[]);
      histogram[b] = (histogram[b] as number) + 1;
      const sums = scoreSum[c] as number[];
      sums[b] = (sums[b] as number) + p;
      brierSum += (p - (c === truth ? 1 : 0)) ** 2;
      // Ties go to the lowest index, as argmaxRows decides the confusion matrix.
      if (p > top) {
        top = p;
        best = c;
      }
      if (coarse !== undefined) coarse[i * k + c] = scoreBin(p, BOOTSTRAP_SCORE_BINS);
    }
    predicted[i] = best;
    nllSum += -Math.log(Math.max(input.probabilities[i * k + truth] as number, MIN_PROBABILITY));
    const b = scoreBin(top, bins);
    count[b] = (count[b] as number) + 1;
    confidenceSum[b] = (confidenceSum[b] as number) + top;
    if (best === truth) correct[b] = (correct[b] as number) + 1;
  }
  const scores = Array.from({ length: k }, (_, c) => ({
    positive: positive[c] as number[],
    negative: negative[c] as number[],
    scoreSum: scoreSum[c] as number[],
  }));
  const stats: EvaluationStatistics = {
    bins,
    count: n,
    scores,
    confidence: { count, correct, confidenceSum },
    brierSum,
    nllSum,
  };
  const bootstrap =
    coarse === undefined ? undefined : bootstrapOf(input, labels, predicted, coarse, replicates);
  const temperature = input.validation === undefined ? undefined : temperatureScan(input);
  return {
    ...stats,
    ...(bootstrap === undefined ? {} : { bootstrap }),
    ...(temperature === undefined ? {} : { temperature }),
  };
}

function bootstrapOf(
  input: SiteStatisticsInput,
  labels: Int32Array,
  predicted: Int32Array,
  scoreBins: Int32Array,
  replicates: number,
): NonNullable<EvaluationStatistics["bootstrap"]> {
  const seed = input.bootstrapSeed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new FlError(
      ErrorCode.InvalidArgument,
      `bootstrapSeed is ${seed}; it must be an integer in [0, 2^32)`,
    );
  }
  if (input.segmentation !== undefined && input.segmentation.length !== labels.length) {
    throw new FlError(
      ErrorCode.InvalidArgument,
      `${input.segmentation.length} segmentation counts for ${labels.length} test images; pass one per image`,
    );
  }
  return {
    seed,
    bins: BOOTSTRAP_SCORE_BINS,
    replicates: stratifiedReplicates(
      {
        numClasses: input.numClasses,
        labels,
        predicted,
        scoreBins,
        bins: BOOTSTRAP_SCORE_BINS,
        ...(input.segmentation === undefined ? {} : { segmentation: input.segmentation }),
      },
      replicates,
      seed,
    ),
  };
}

function temperatureScan(input: SiteStatisticsInput): TemperatureScan {
  const validation = input.validation as NonNullable<SiteStatisticsInput["validation"]>;
  checkSplit(validation.probabilities, validation.labels, input.numClasses, "validation");
  const temperatures = [...(input.temperatures ?? DEFAULT_TEMPERATURES)];
  if (temperatures.length === 0 || temperatures.some((t) => !Number.isFinite(t) || t <= 0)) {
    throw new FlError(
      ErrorCode.InvalidArgument,
      `temperatures are [${temperatures.join(", ")}]; give at least one finite temperature > 0`,
    );
  }
  const valid = logProbabilities(validation.probabilities, validation.labels, input.numClasses);
  const test = logProbabilities(input.probabilities, input.labels, input.numClasses);
  return {
    temperatures,
    validationNllSum: temperatures.map((t) => temperedNllSum(valid, t)),
    validationCount: validation.labels.length,
    test: temperatures.map((t) => temperedCalibration(test, t)),
  };
}

function checkSplit(
  probabilities: ArrayLike<number>,
  labels: ArrayLike<number>,
  k: number,
  split: string,
): void {
  if (!Number.isSafeInteger(k) || k < 1) {
    throw new FlError(ErrorCode.InvalidArgument, `numClasses must be a positive integer, got ${k}`);
  }
  if (probabilities.length !== labels.length * k) {
    throw new FlError(
      ErrorCode.InvalidArgument,
      `${split} split: ${probabilities.length} probabilities do not make ${labels.length} rows of ${k} classes; ` +
        "pass one row of class probabilities per label",
    );
  }
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i] as number;
    if (!Number.isInteger(label) || label < 0 || label >= k) {
      throw new FlError(
        ErrorCode.InvalidArgument,
        `${split} split: label at index ${i} is ${label}; labels must be integers in [0, ${k})`,
      );
    }
    let sum = 0;
    for (let c = 0; c < k; c++) {
      const p = probabilities[i * k + c] as number;
      if (!(p >= 0 && p <= 1)) {
        throw new FlError(
          ErrorCode.InvalidArgument,
          `${split} split: probability [${i}][${c}] is ${p}; probabilities must be in [0, 1] (apply softmax first)`,
        );
      }
      sum += p;
    }
    if (Math.abs(sum - 1) > ROW_SUM_TOLERANCE) {
      throw new FlError(
        ErrorCode.InvalidArgument,
        `${split} split: row ${i} of probabilities sums to ${sum}, not 1; pass softmax outputs`,
      );
    }
  }
}

function zeros(rows: number, columns: number): number[][] {
  return Array.from({ length: rows }, () => new Array<number>(columns).fill(0));
}
