import type { EvaluationStatistics, StatisticsSummary } from "./evaluation-statistics.js";

/** AUC, AP, calibration, curves and intervals from (a site's or pooled) statistics. */
export function summariseStatistics(_stats: EvaluationStatistics): StatisticsSummary {
  throw new Error("summariseStatistics: not implemented yet");
}
