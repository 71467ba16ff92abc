import { CALIBRATION_BINS, type ConfidenceBins } from "./evaluation-statistics.js";

/**
 * Temperature scaling (Guo et al. 2017) without logits: softmax(ln p / T) equals softmax(z / T)
 * for p = softmax(z), so a site can rescale the probabilities it already has. A site sends the
 * validation NLL at every candidate T (summed over sites, the argmin is the federated fit) and
 * the test split's calibration at every T (so the pooled "after" needs no second round trip).
 */

/** 25 temperatures log-spaced from 0.25 to 4, 2^(i/6) for i = −12..12: 1 is exactly on the grid. */
export const DEFAULT_TEMPERATURES: readonly number[] = Object.freeze(
  Array.from({ length: 25 }, (_, i) => 2 ** ((i - 12) / 6)),
);

/** −ln of a probability is clipped here, as in the untempered NLL. */
const MIN_PROBABILITY = 1e-12;
const MAX_NLL = -Math.log(MIN_PROBABILITY);

/** One split's per-image log-probabilities, reused at every temperature. */
export interface LogProbabilities {
  readonly numClasses: number;
  readonly labels: ArrayLike<number>;
  /** n × numClasses, ln p (−Infinity for p = 0). */
  readonly logs: Float64Array;
  /** Per image, max_c ln p_c (finite: rows sum to 1). */
  readonly maxLogs: Float64Array;
}

export function logProbabilities(
  probabilities: ArrayLike<number>,
  labels: ArrayLike<number>,
  numClasses: number,
): LogProbabilities {
  const n = labels.length;
  const logs = new Float64Array(n * numClasses);
  const maxLogs = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let max = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < numClasses; c++) {
      const value = Math.log(probabilities[i * numClasses + c] as number);
      logs[i * numClasses + c] = value;
      if (value > max) max = value;
    }
    maxLogs[i] = max;
  }
  return { numClasses, labels, logs, maxLogs };
}

/** Σ −ln softmax(ln p / T)_truth at one temperature. */
export function temperedNllSum(split: LogProbabilities, temperature: number): number {
  const { numClasses: k, labels, logs, maxLogs } = split;
  let sum = 0;
  for (let i = 0; i < labels.length; i++) {
    const max = maxLogs[i] as number;
    let norm = 0;
    for (let c = 0; c < k; c++) norm += Math.exp(((logs[i * k + c] as number) - max) / temperature);
    const logTruth = ((logs[i * k + (labels[i] as number)] as number) - max) / temperature - Math.log(norm);
    sum += Math.min(MAX_NLL, -logTruth);
  }
  return sum;
}

/** The test split's calibration at one temperature: CALIBRATION_BINS confidence bins, Brier and NLL sums. */
export function temperedCalibration(
  split: LogProbabilities,
  temperature: number,
): { confidence: ConfidenceBins; brierSum: number; nllSum: number } {
  const { numClasses: k, labels, logs, maxLogs } = split;
  const count = new Array<number>(CALIBRATION_BINS).fill(0);
  const correct = new Array<number>(CALIBRATION_BINS).fill(0);
  const confidenceSum = new Array<number>(CALIBRATION_BINS).fill(0);
  const q = new Float64Array(k);
  let brierSum = 0;
  let nllSum = 0;
  for (let i = 0; i < labels.length; i++) {
    const max = maxLogs[i] as number;
    let norm = 0;
    for (let c = 0; c < k; c++) {
      q[c] = Math.exp(((logs[i * k + c] as number) - max) / temperature);
      norm += q[c] as number;
    }
    const truth = labels[i] as number;
    let best = 0;
    for (let c = 0; c < k; c++) {
      const value = (q[c] as number) / norm;
      q[c] = value;
      brierSum += (value - (c === truth ? 1 : 0)) ** 2;
      if (value > (q[best] as number)) best = c;
    }
    const logTruth = ((logs[i * k + truth] as number) - max) / temperature - Math.log(norm);
    nllSum += Math.min(MAX_NLL, -logTruth);
    const top = q[best] as number;
    const bin = top >= 1 ? CALIBRATION_BINS - 1 : Math.floor(top * CALIBRATION_BINS);
    count[bin] = (count[bin] as number) + 1;
    confidenceSum[bin] = (confidenceSum[bin] as number) + top;
    if (best === truth) correct[bin] = (correct[bin] as number) + 1;
  }
  return { confidence: { count, correct, confidenceSum }, brierSum, nllSum };
}

/** The temperature with the least validation NLL (the first of equals). */
export function fittedTemperature(
  temperatures: readonly number[],
  validationNllSum: readonly number[],
): number {
  let best = 0;
  for (let t = 1; t < temperatures.length; t++) {
    if ((validationNllSum[t] as number) < (validationNllSum[best] as number)) best = t;
  }
  return temperatures[best] as number;
}
