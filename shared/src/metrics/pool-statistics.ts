import type { EvaluationStatistics } from "./evaluation-statistics.js";

/** Sums sites' statistics (replicates index by index: a bootstrap stratified by site). */
export function poolStatistics(_list: readonly EvaluationStatistics[]): EvaluationStatistics {
  throw new Error("poolStatistics: not implemented yet");
}

/**
 * Checks statistics received from a site: shapes (numClasses histograms of `bins` ≤ SCORE_BINS),
 * non-negative integer counts summing to numExamples, finite sums, replicate counts ≤
 * MAX_BOOTSTRAP_REPLICATES. Throws an FlError(InvalidArgument) that names what was wrong.
 */
export function checkStatistics(
  _stats: EvaluationStatistics,
  _numClasses: number,
  _numExamples: number,
): void {
  throw new Error("checkStatistics: not implemented yet");
}
