import { ErrorCode, FlError } from "../errors.js";
import {
  CALIBRATION_BINS,
  type EvaluationStatistics,
  MAX_BOOTSTRAP_REPLICATES,
  SCORE_BINS,
} from "./evaluation-statistics.js";

/**
 * Validation of statistics that crossed the wire. Everything is checked against what a correct
 * site could have produced, so a buggy or hostile site cannot skew the pooled metrics with
 * impossible values: shapes, integer counts that add up to the images it reported, sums inside
 * the range their bin allows, and bounded list sizes (checked before anything is walked).
 */

/** Most temperatures a scan may carry. */
export const MAX_TEMPERATURES = 100;
/** −ln(1e-12), the most one image adds to an NLL sum. */
const MAX_NLL = -Math.log(1e-12);
/** Slack for floating-point sums (relative, per image). */
const SLACK = 1e-9;

/**
 * Checks statistics received from a site: shapes (numClasses histograms of `bins` bins, where
 * `bins` divides SCORE_BINS and is a multiple of CALIBRATION_BINS so that pooled bins nest),
 * non-negative integer counts summing to numExamples, finite sums within their possible ranges,
 * replicate counts ≤ MAX_BOOTSTRAP_REPLICATES. Throws an FlError(InvalidArgument) that names the
 * field, what was expected and what came.
 */
export function checkStatistics(stats: EvaluationStatistics, numClasses: number, numExamples: number): void {
  const n = numExamples;
  object(stats, "statistics");
  const bins = stats.bins;
  if (
    !Number.isSafeInteger(bins) ||
    bins < CALIBRATION_BINS ||
    bins > SCORE_BINS ||
    SCORE_BINS % bins !== 0 ||
    bins % CALIBRATION_BINS !== 0
  ) {
    fail(
      "statistics.bins",
      `a divisor of ${SCORE_BINS} that is a multiple of ${CALIBRATION_BINS} (20, 40, 100, 200, 500 or 1000)`,
      bins,
    );
  }
  if (stats.count !== n) fail("statistics.count", `${n} (the images the site reported)`, stats.count);
  list(stats.scores, "statistics.scores", numClasses);
  const supports: number[] = [];
  for (let c = 0; c < numClasses; c++) {
    const path = `statistics.scores[${c}]`;
    const histogram = stats.scores[c];
    object(histogram, path);
    const positive = counts(histogram.positive, `${path}.positive`, bins, n);
    const negative = counts(histogram.negative, `${path}.negative`, bins, n);
    const total = sumOf(positive) + sumOf(negative);
    if (total !== n) fail(`${path}: positives + negatives`, `${n}`, total);
    binSums(
      histogram.scoreSum,
      `${path}.scoreSum`,
      positive.map((p, b) => p + (negative[b] as number)),
    );
    supports.push(sumOf(positive));
  }
  const classTotal = sumOf(supports);
  if (classTotal !== n) fail("statistics.scores: positives over all classes", `${n}`, classTotal);
  confidenceBins(stats.confidence, "statistics.confidence", bins, n);
  range(stats.brierSum, "statistics.brierSum", 0, 2 * n);
  range(stats.nllSum, "statistics.nllSum", 0, MAX_NLL * n);
  if (stats.bootstrap !== undefined) checkBootstrap(stats.bootstrap, numClasses, n, supports);
  if (stats.temperature !== undefined) checkTemperature(stats.temperature, n);
}

function checkBootstrap(
  bootstrap: NonNullable<EvaluationStatistics["bootstrap"]>,
  k: number,
  n: number,
  supports: readonly number[],
): void {
  const path = "statistics.bootstrap";
  object(bootstrap, path);
  if (!Number.isSafeInteger(bootstrap.seed) || bootstrap.seed < 0 || bootstrap.seed > 0xffffffff) {
    fail(`${path}.seed`, "an integer in [0, 2^32)", bootstrap.seed);
  }
  const bins = bootstrap.bins;
  if (!Number.isSafeInteger(bins) || bins < 1 || SCORE_BINS % bins !== 0) {
    fail(`${path}.bins`, `a divisor of ${SCORE_BINS}`, bins);
  }
  if (!Array.isArray(bootstrap.replicates) || bootstrap.replicates.length > MAX_BOOTSTRAP_REPLICATES) {
    fail(
      `${path}.replicates`,
      `a list of at most ${MAX_BOOTSTRAP_REPLICATES} replicates`,
      bootstrap.replicates,
    );
  }
  for (const [r, replicate] of bootstrap.replicates.entries()) {
    const at = `${path}.replicates[${r}]`;
    object(replicate, at);
    list(replicate.confusion, `${at}.confusion`, k);
    list(replicate.positive, `${at}.positive`, k);
    list(replicate.negative, `${at}.negative`, k);
    for (let t = 0; t < k; t++) {
      const row = counts(replicate.confusion[t], `${at}.confusion[${t}]`, k, n);
      // Resampled within each class: every replicate keeps the site's class supports.
      if (sumOf(row) !== supports[t]) {
        fail(
          `${at}.confusion[${t}] (images of class ${t})`,
          `${supports[t]} (stratified by class)`,
          sumOf(row),
        );
      }
      const positive = sumOf(counts(replicate.positive[t], `${at}.positive[${t}]`, bins, n));
      const negative = sumOf(counts(replicate.negative[t], `${at}.negative[${t}]`, bins, n));
      if (positive !== supports[t]) fail(`${at}.positive[${t}] total`, `${supports[t]}`, positive);
      if (positive + negative !== n)
        fail(`${at}: positives + negatives of class ${t}`, `${n}`, positive + negative);
    }
    if (replicate.segmentation !== undefined)
      checkSegmentation(replicate.segmentation, `${at}.segmentation`, n);
  }
}

function checkSegmentation(
  counts: NonNullable<EvaluationStatistics["bootstrap"]>["replicates"][number]["segmentation"],
  path: string,
  n: number,
): void {
  object(counts, path);
  const s = counts as NonNullable<typeof counts>;
  if (!Number.isSafeInteger(s.images) || s.images < 0 || s.images > n) {
    fail(`${path}.images`, `an integer from 0 to ${n}`, s.images);
  }
  range(s.diceSum, `${path}.diceSum`, 0, s.images);
  range(s.iouSum, `${path}.iouSum`, 0, s.images);
  for (const key of ["intersection", "predicted", "actual"] as const) {
    if (!Number.isSafeInteger(s[key]) || s[key] < 0) fail(`${path}.${key}`, "a non-negative integer", s[key]);
  }
  if (s.intersection > Math.min(s.predicted, s.actual)) {
    fail(
      `${path}.intersection`,
      `at most min(predicted, actual) = ${Math.min(s.predicted, s.actual)}`,
      s.intersection,
    );
  }
}

function checkTemperature(scan: NonNullable<EvaluationStatistics["temperature"]>, n: number): void {
  const path = "statistics.temperature";
  object(scan, path);
  if (
    !Array.isArray(scan.temperatures) ||
    scan.temperatures.length < 1 ||
    scan.temperatures.length > MAX_TEMPERATURES
  ) {
    fail(`${path}.temperatures`, `a list of 1 to ${MAX_TEMPERATURES} temperatures`, scan.temperatures);
  }
  const size = scan.temperatures.length;
  for (const [t, temperature] of scan.temperatures.entries()) {
    if (typeof temperature !== "number" || !Number.isFinite(temperature) || temperature <= 0) {
      fail(`${path}.temperatures[${t}]`, "a finite number > 0", temperature);
    }
  }
  const validationCount = scan.validationCount;
  if (!Number.isSafeInteger(validationCount) || validationCount < 0) {
    fail(`${path}.validationCount`, "a non-negative integer", validationCount);
  }
  list(scan.validationNllSum, `${path}.validationNllSum`, size);
  for (const [t, value] of scan.validationNllSum.entries()) {
    range(value, `${path}.validationNllSum[${t}]`, 0, MAX_NLL * validationCount);
  }
  list(scan.test, `${path}.test`, size);
  for (const [t, entry] of scan.test.entries()) {
    const at = `${path}.test[${t}]`;
    object(entry, at);
    confidenceBins(entry.confidence, `${at}.confidence`, CALIBRATION_BINS, n);
    range(entry.brierSum, `${at}.brierSum`, 0, 2 * n);
    range(entry.nllSum, `${at}.nllSum`, 0, MAX_NLL * n);
  }
}

function confidenceBins(
  confidence: EvaluationStatistics["confidence"],
  path: string,
  bins: number,
  n: number,
): void {
  object(confidence, path);
  const count = counts(confidence.count, `${path}.count`, bins, n);
  const total = sumOf(count);
  if (total !== n) fail(`${path}.count total`, `${n}`, total);
  const correct = counts(confidence.correct, `${path}.correct`, bins, n);
  for (let b = 0; b < bins; b++) {
    if ((correct[b] as number) > (count[b] as number)) {
      fail(`${path}.correct[${b}]`, `at most count[${b}] = ${count[b]}`, correct[b]);
    }
  }
  binSums(confidence.confidenceSum, `${path}.confidenceSum`, count);
}

/** A list of `bins` sums of values in each bin's [b/bins, (b+1)/bins), given how many values each holds. */
function binSums(values: unknown, path: string, sizes: readonly number[]): void {
  const bins = sizes.length;
  list(values, path, bins);
  for (let b = 0; b < bins; b++) {
    const size = sizes[b] as number;
    const slack = SLACK * (size + 1);
    range(
      (values as number[])[b],
      `${path}[${b}]`,
      (b / bins) * size - slack,
      ((b + 1) / bins) * size + slack,
      `the sum of ${size} values in [${b / bins}, ${(b + 1) / bins}]`,
    );
  }
}

/** A list of `length` non-negative integers, each at most `max`. */
function counts(values: unknown, path: string, length: number, max: number): number[] {
  list(values, path, length);
  const array = values as unknown[];
  for (let i = 0; i < length; i++) {
    const value = array[i];
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0 || value > max) {
      fail(`${path}[${i}]`, `an integer count from 0 to ${max}`, value);
    }
  }
  return array as number[];
}

function range(value: unknown, path: string, low: number, high: number, what?: string): void {
  if (
    typeof value !== "number" ||
    !Number.isFinite(value) ||
    value < low - SLACK ||
    value > high + SLACK * Math.max(1, high)
  ) {
    fail(path, what ?? `a finite number in [0, ${high}]`, value);
  }
}

function list(value: unknown, path: string, length: number): void {
  if (!Array.isArray(value) || value.length !== length) {
    fail(path, `a list of ${length}`, value);
  }
}

function object<T>(value: T, path: string): asserts value is NonNullable<T> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail(path, "an object", value);
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (typeof value === "object" && value !== null) return "an object";
  return String(value);
}

function fail(path: string, expected: string, actual: unknown): never {
  throw new FlError(
    ErrorCode.InvalidArgument,
    `${path} is ${describe(actual)}, expected ${expected}; the site's evaluation statistics are malformed`,
  );
}

function sumOf(values: readonly number[]): number {
  let total = 0;
  for (const value of values) total += value;
  return total;
}
