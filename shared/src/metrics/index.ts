export { weightedAverage } from "./average.js";
export { argmaxRows, assertConfusion, confusionMatrix, sumConfusions } from "./confusion.js";
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
