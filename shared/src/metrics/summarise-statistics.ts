import { CLASS_KEYS } from "../fl/classes.js";
import { binnedAuc, binnedAveragePrecision, binnedPrCurve, binnedRocCurve } from "./binned-ranking.js";
import { percentileInterval } from "./bootstrap.js";
import { adaptiveCalibrationError, calibrationError, reliabilityBins } from "./calibration.js";
import {
  type BoundedValue,
  CALIBRATION_BINS,
  type EvaluationStatistics,
  type Interval,
  type StatisticsSummary,
  type TemperatureScan,
} from "./evaluation-statistics.js";
import { classificationReport } from "./report.js";
import { type SegmentationCounts, summarizeSegmentation } from "./segmentation.js";
import { fittedTemperature } from "./temperature.js";

/** What the statistics cannot hold but the caller may have, for the intervals' point estimates. */
export interface SummariseContext {
  /** The full test confusion (rows = true class): point estimate of accuracy, macro-F1 and F1. */
  readonly confusion?: number[][];
  /** The full test segmentation counts: point estimate of Dice. */
  readonly segmentation?: SegmentationCounts;
}

/**
 * AUC, AP, calibration, curves and intervals from (a site's or pooled) statistics. With no images
 * (count 0) every mean is 0 and no AUC or AP is defined. Interval estimates come from the full
 * statistics where they can (AUC, AP, accuracy) or from `context`; otherwise (F1, Dice without
 * context) the estimate is the replicates' median.
 */
export function summariseStatistics(
  stats: EvaluationStatistics,
  context: SummariseContext = {},
): StatisticsSummary {
  const n = stats.count;
  const auc = stats.scores.map((h) => binnedAuc(h.positive, h.negative));
  const ap = stats.scores.map((h) => binnedAveragePrecision(h.positive, h.negative));
  const calibration = calibrationError(stats.confidence, CALIBRATION_BINS);
  const macroAuc = meanBounded(auc);
  const mAP = meanBounded(ap);
  const intervals =
    stats.bootstrap === undefined || stats.bootstrap.replicates.length === 0
      ? undefined
      : bootstrapIntervals(stats, { auc, ap, macroAuc, mAP }, context);
  const temperature = stats.temperature === undefined ? undefined : temperatureSummary(stats.temperature, n);
  return {
    count: n,
    resolution: 1 / stats.bins,
    auc,
    ap,
    macroAuc,
    mAP,
    ece: calibration.ece,
    adaptiveEce: adaptiveCalibrationError(stats.confidence, CALIBRATION_BINS),
    mce: calibration.mce,
    brier: n === 0 ? 0 : stats.brierSum / n,
    nll: n === 0 ? 0 : stats.nllSum / n,
    reliability: calibration.reliability,
    classReliability: stats.scores.map((h) =>
      reliabilityBins(
        h.positive.map((p, b) => p + (h.negative[b] as number)),
        h.positive,
        h.scoreSum,
        CALIBRATION_BINS,
      ),
    ),
    roc: stats.scores.map((h) => binnedRocCurve(h.positive, h.negative)),
    pr: stats.scores.map((h) => binnedPrCurve(h.positive, h.negative)),
    ...(intervals === undefined ? {} : { intervals }),
    ...(temperature === undefined ? {} : { temperature }),
  };
}

/** Key of class c in interval names: CLASS_KEYS for the federation's four classes, else the index. */
function classKey(c: number, numClasses: number): string {
  return numClasses === CLASS_KEYS.length ? (CLASS_KEYS[c] as string) : String(c);
}

/** Mean of the defined values; its bound is the mean of their bounds (triangle inequality). */
function meanBounded(values: ReadonlyArray<BoundedValue | null>): BoundedValue | null {
  const defined = values.filter((v): v is BoundedValue => v !== null);
  if (defined.length === 0) return null;
  return {
    value: defined.reduce((s, v) => s + v.value, 0) / defined.length,
    errorBound: defined.reduce((s, v) => s + v.errorBound, 0) / defined.length,
  };
}

function bootstrapIntervals(
  stats: EvaluationStatistics,
  point: {
    auc: ReadonlyArray<BoundedValue | null>;
    ap: ReadonlyArray<BoundedValue | null>;
    macroAuc: BoundedValue | null;
    mAP: BoundedValue | null;
  },
  context: SummariseContext,
): Record<string, Interval> {
  const bootstrap = stats.bootstrap as NonNullable<EvaluationStatistics["bootstrap"]>;
  const k = stats.scores.length;
  const series = new Map<string, number[]>();
  const add = (key: string, value: number): void => {
    const values = series.get(key);
    if (values === undefined) series.set(key, [value]);
    else values.push(value);
  };
  const withSegmentation = bootstrap.replicates.every((r) => r.segmentation !== undefined);
  for (const replicate of bootstrap.replicates) {
    const report = classificationReport(replicate.confusion);
    add("accuracy", report.accuracy);
    add("macroF1", report.macroF1);
    for (let c = 0; c < k; c++) add(`f1.${classKey(c, k)}`, (report.perClass[c] as { f1: number }).f1);
    const aucs = replicate.positive.map((pos, c) => binnedAuc(pos, replicate.negative[c] as number[]));
    const aps = replicate.positive.map((pos, c) =>
      binnedAveragePrecision(pos, replicate.negative[c] as number[]),
    );
    for (let c = 0; c < k; c++) {
      const a = aucs[c];
      const p = aps[c];
      if (a !== null && a !== undefined) add(`auc.${classKey(c, k)}`, a.value);
      if (p !== null && p !== undefined) add(`ap.${classKey(c, k)}`, p.value);
    }
    const macro = meanBounded(aucs.map((a) => a ?? null));
    const map = meanBounded(aps.map((a) => a ?? null));
    if (macro !== null) add("macroAuc", macro.value);
    if (map !== null) add("mAP", map.value);
    if (withSegmentation)
      add("dice", summarizeSegmentation(replicate.segmentation as SegmentationCounts).globalDice);
  }
  const full = context.confusion === undefined ? undefined : classificationReport(context.confusion);
  const correct = stats.confidence.correct.reduce((s, v) => s + v, 0);
  const estimates = new Map<string, number>();
  if (stats.count > 0) estimates.set("accuracy", correct / stats.count);
  if (full !== undefined) {
    estimates.set("macroF1", full.macroF1);
    for (let c = 0; c < k; c++)
      estimates.set(`f1.${classKey(c, k)}`, (full.perClass[c] as { f1: number }).f1);
  }
  for (let c = 0; c < k; c++) {
    const a = point.auc[c];
    const p = point.ap[c];
    if (a !== null && a !== undefined) estimates.set(`auc.${classKey(c, k)}`, a.value);
    if (p !== null && p !== undefined) estimates.set(`ap.${classKey(c, k)}`, p.value);
  }
  if (point.macroAuc !== null) estimates.set("macroAuc", point.macroAuc.value);
  if (point.mAP !== null) estimates.set("mAP", point.mAP.value);
  if (context.segmentation !== undefined)
    estimates.set("dice", summarizeSegmentation(context.segmentation).globalDice);
  const out: Record<string, Interval> = {};
  for (const [key, values] of series) {
    const finite = values.filter((v) => Number.isFinite(v));
    if (finite.length === 0) continue;
    const interval = percentileInterval(finite, Number.NaN);
    const estimate = estimates.get(key) ?? median(finite);
    out[key] = { ...interval, estimate };
  }
  return out;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function temperatureSummary(scan: TemperatureScan, n: number): StatisticsSummary["temperature"] | undefined {
  if (scan.validationCount === 0 || scan.temperatures.length === 0) return undefined;
  const fitted = fittedTemperature(scan.temperatures, scan.validationNllSum);
  const best = scan.temperatures.indexOf(fitted);
  // "Before" is the scan's own T = 1 entry (nearest to 1 if the grid skips it), so before and after
  // are measured the same way.
  let one = 0;
  for (let t = 1; t < scan.temperatures.length; t++) {
    if (
      Math.abs(Math.log(scan.temperatures[t] as number)) <
      Math.abs(Math.log(scan.temperatures[one] as number))
    )
      one = t;
  }
  const at = (t: number): { ece: number; brier: number; nll: number } => {
    const entry = scan.test[t] as TemperatureScan["test"][number];
    return {
      ece: calibrationError(entry.confidence, CALIBRATION_BINS).ece,
      brier: n === 0 ? 0 : entry.brierSum / n,
      nll: n === 0 ? 0 : entry.nllSum / n,
    };
  };
  return { fitted, before: at(one), after: at(best) };
}
