import type { EvaluationStatistics, SiteStatisticsInput } from "./evaluation-statistics.js";

/** A site's sufficient statistics of its evaluation (computed where the images are). */
export function computeSiteStatistics(_input: SiteStatisticsInput): EvaluationStatistics {
  throw new Error("computeSiteStatistics: not implemented yet");
}
