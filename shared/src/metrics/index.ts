export { weightedAverage } from "./average.js";
export {
  binnedAuc,
  binnedAveragePrecision,
  binnedPrCurve,
  binnedRocCurve,
  MAX_CURVE_POINTS,
} from "./binned-ranking.js";
export { coarseBin, scoreBin } from "./binning.js";
export { percentileInterval, quantile } from "./bootstrap.js";
export {
  adaptiveCalibrationError,
  type CalibrationError,
  calibrationError,
  reliabilityBins,
} from "./calibration.js";
export { MAX_TEMPERATURES } from "./check-statistics.js";
export { argmaxRows, assertConfusion, confusionMatrix, sumConfusions } from "./confusion.js";
export {
  BOOTSTRAP_SCORE_BINS,
  type BootstrapReplicate,
  type BoundedValue,
  CALIBRATION_BINS,
  type ConfidenceBins,
  type CurvePoint,
  DEFAULT_BOOTSTRAP_REPLICATES,
  type EvaluationStatistics,
  type Interval,
  MAX_BOOTSTRAP_REPLICATES,
  type ReliabilityBin,
  SCORE_BINS,
  type ScoreHistogram,
  type SiteStatisticsInput,
  type StatisticsSummary,
  type TemperatureScan,
} from "./evaluation-statistics.js";
export { checkStatistics, poolStatistics } from "./pool-statistics.js";
export { averagePrecision, type OneVsRestRanking, oneVsRest, rocAuc } from "./ranking.js";
export { type ClassificationReport, type ClassMetrics, classificationReport } from "./report.js";
export {
  DEFAULT_MASK_THRESHOLD,
  diceScore,
  iouScore,
  SegmentationAccumulator,
  type SegmentationCounts,
  type SegmentationSummary,
  summarizeSegmentation,
} from "./segmentation.js";
export { computeSiteStatistics } from "./site-statistics.js";
export { type SummariseContext, summariseStatistics } from "./summarise-statistics.js";
export { DEFAULT_TEMPERATURES, fittedTemperature } from "./temperature.js";
