export { weightedAverage } from "./average.js";
export { argmaxRows, assertConfusion, confusionMatrix, sumConfusions } from "./confusion.js";
export { type ClassificationReport, type ClassMetrics, classificationReport } from "./report.js";
