/**
 * What a site's evaluation sends besides its confusion matrix: additive sufficient statistics of
 * its per-image class probabilities, never the probabilities themselves. Summed over sites they
 * give pooled ROC-AUC, AP, calibration and bootstrap intervals that respect the privacy boundary
 * (per-image scores never leave a hospital), each with the error bound its binning allows.
 *
 * CONTRACT (session 2026-12-02): the types and signatures here are what the wire, the store,
 * the coordinator's summary and the report build on. Implementations live in the modules named
 * on each function.
 */
import type { SegmentationCounts } from "./segmentation.js";

/** Fine bins of a probability in [0, 1]: resolution 0.001. Bin b holds [b/B, (b+1)/B), 1 in the last. */
export const SCORE_BINS = 1000;
/** Coarser bins for the bootstrap replicates' histograms (they are sent B times). */
export const BOOTSTRAP_SCORE_BINS = 50;
export const DEFAULT_BOOTSTRAP_REPLICATES = 200;
export const MAX_BOOTSTRAP_REPLICATES = 1000;
/** Equal-width bins of the reported ECE and reliability diagrams (nest in the fine bins). */
export const CALIBRATION_BINS = 20;

/** One class's one-vs-rest score histogram: P(class) of each image, by bin. */
export interface ScoreHistogram {
  /** Images of this class, by bin of their P(class). */
  readonly positive: number[];
  /** Images of the other classes, by bin of their P(class). */
  readonly negative: number[];
  /** Σ P(class) of the images in each bin (all images), for exact class-wise reliability means. */
  readonly scoreSum: number[];
}

/** Top-label confidence (max_c P(c)) by bin. */
export interface ConfidenceBins {
  readonly count: number[];
  /** How many of them were predicted right (argmax = truth). */
  readonly correct: number[];
  readonly confidenceSum: number[];
}

/** The statistics of one bootstrap resample of a site's test images (stratified by class). */
export interface BootstrapReplicate {
  readonly confusion: number[][];
  /** [class][bin] with `bins` = the bootstrap's bins. */
  readonly positive: number[][];
  readonly negative: number[][];
  /** Present for models with a segmentation head. */
  readonly segmentation?: SegmentationCounts;
}

/** Calibration of the test split at each candidate temperature, and the validation NLL that picks one. */
export interface TemperatureScan {
  readonly temperatures: number[];
  /** Σ −ln softmax(ln p / T)_truth over the validation split, one per temperature. */
  readonly validationNllSum: number[];
  readonly validationCount: number;
  /** The test split rescaled at each temperature, CALIBRATION_BINS bins. */
  readonly test: ReadonlyArray<{
    readonly confidence: ConfidenceBins;
    readonly brierSum: number;
    readonly nllSum: number;
  }>;
}

export interface EvaluationStatistics {
  /** Number of fine bins (SCORE_BINS unless a site sends fewer). */
  readonly bins: number;
  readonly count: number;
  /** One per class, `bins` long each. */
  readonly scores: ScoreHistogram[];
  readonly confidence: ConfidenceBins;
  /** Σ_i Σ_c (p_ic − y_ic)² (multi-class Brier, Brier 1950). */
  readonly brierSum: number;
  /** Σ_i −ln max(p_i,truth, 1e-12). */
  readonly nllSum: number;
  readonly bootstrap?: {
    /** The seed the site resampled with (recorded so a site can reproduce its replicates). */
    readonly seed: number;
    readonly bins: number;
    readonly replicates: BootstrapReplicate[];
  };
  readonly temperature?: TemperatureScan;
}

/** A value computed from binned data and how far the exact value can be from it: |exact − value| ≤ errorBound. */
export interface BoundedValue {
  readonly value: number;
  readonly errorBound: number;
}

/** A 95 % percentile bootstrap interval, with the point estimate and the number of replicates. */
export interface Interval {
  readonly estimate: number;
  readonly low: number;
  readonly high: number;
  readonly replicates: number;
}

export interface ReliabilityBin {
  readonly low: number;
  readonly high: number;
  readonly count: number;
  /** Mean predicted probability in the bin (NaN-free: bins with count 0 have 0). */
  readonly meanPredicted: number;
  /** Observed frequency: accuracy (top-label) or share of positives (class-wise). */
  readonly observed: number;
}

export interface CurvePoint {
  readonly x: number;
  readonly y: number;
}

/** Everything the report shows about one site's or the pooled evaluation, derived from statistics. */
export interface StatisticsSummary {
  readonly count: number;
  /** 1 / bins. */
  readonly resolution: number;
  /** Per class (CLASS_KEYS order); null when the class has no positives or no negatives here. */
  readonly auc: ReadonlyArray<BoundedValue | null>;
  readonly ap: ReadonlyArray<BoundedValue | null>;
  /** Means over the classes whose AUC / AP is defined; null when none is. */
  readonly macroAuc: BoundedValue | null;
  readonly mAP: BoundedValue | null;
  /** Top-label ECE with CALIBRATION_BINS equal-width bins (exact: the bins nest in the fine ones). */
  readonly ece: number;
  /** ECE with CALIBRATION_BINS equal-mass bins, cut on fine-bin edges (bounded by the resolution). */
  readonly adaptiveEce: BoundedValue;
  /** Maximum calibration error over non-empty equal-width bins. */
  readonly mce: number;
  /** Mean multi-class Brier score, Σ_c (p_c − y_c)² averaged over images (0 best, 2 worst). */
  readonly brier: number;
  readonly nll: number;
  readonly reliability: ReliabilityBin[];
  /** Per class, CALIBRATION_BINS bins of P(class) against the share of positives. */
  readonly classReliability: ReliabilityBin[][];
  /** Per class, ROC (x = FPR, y = TPR) and PR (x = recall, y = precision) curves, ≤ 201 points each. */
  readonly roc: CurvePoint[][];
  readonly pr: CurvePoint[][];
  /**
   * Bootstrap intervals, when the statistics carry replicates. Keys: accuracy, macroF1,
   * f1.<classKey>, macroAuc, mAP, auc.<classKey>, ap.<classKey>, dice (segmentation models).
   */
  readonly intervals?: Readonly<Record<string, Interval>>;
  /** Federated temperature scaling, when the statistics carry a scan: T fitted on validation NLL. */
  readonly temperature?: {
    readonly fitted: number;
    readonly before: { readonly ece: number; readonly brier: number; readonly nll: number };
    readonly after: { readonly ece: number; readonly brier: number; readonly nll: number };
  };
}

export interface SiteStatisticsInput {
  /** n × numClasses row-major class probabilities (each row sums to 1). */
  readonly probabilities: ArrayLike<number>;
  /** n true class indices. */
  readonly labels: ArrayLike<number>;
  readonly numClasses: number;
  /** Per-image mask overlap, for the bootstrap's Dice (segmentation models only). */
  readonly segmentation?: ReadonlyArray<SegmentationCounts>;
  /** Resample the test images this many times (0: no bootstrap). */
  readonly bootstrapReplicates?: number;
  readonly bootstrapSeed?: number;
  /** Validation probabilities and labels for the temperature scan (omit: no scan). */
  readonly validation?: { readonly probabilities: ArrayLike<number>; readonly labels: ArrayLike<number> };
  readonly temperatures?: readonly number[];
}
