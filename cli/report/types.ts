/**
 * The shapes `fl report` works with: what is read from a run folder (RunInput) and the numbers
 * the report states (RunReport, written whole to report.json). Pure data, so the builder, the
 * readiness statements and the renderers are tested without a run folder.
 */
import type { EvaluationSummary, RoundSummary } from "../../coordinator/src/report.js";
import type { SiteRecord } from "../../coordinator/src/store/records.js";
import type { AnalysisReport } from "../../shared/src/analysis/types.js";
import type { Interval, StatisticsSummary } from "../../shared/src/metrics/evaluation-statistics.js";
import type { ClassificationReport } from "../../shared/src/metrics/index.js";

/**
 * An evaluation summary as the coordinator's report module gives it, with the statistics helper
 * B adds (pooled, per site, and the coordinator's own central test set); all optional, so runs
 * whose sites sent no statistics still report.
 */
export type ReportEvaluation = EvaluationSummary & {
  readonly statistics?: StatisticsSummary;
  readonly siteStatistics?: Readonly<Record<string, StatisticsSummary>>;
  readonly central?: {
    readonly siteId: string;
    readonly round: number;
    readonly report: ClassificationReport;
    readonly statistics?: StatisticsSummary;
  };
};

/** What one site sent the coordinator over the run, as the coordinator recorded it. */
export interface SiteTraffic {
  readonly site: string;
  readonly updatesAccepted: number;
  readonly updatesRejected: number;
  readonly updateBytes: number;
  /** Σ training images declared with the accepted updates (a count, never the images). */
  readonly trainExamplesDeclared: number;
  /** The training metric names the updates carried (loss, accuracy, steps). */
  readonly trainMetricKeys: readonly string[];
  readonly evaluations: number;
  /** The metric names its evaluations carried besides the confusion matrix. */
  readonly evaluationMetricKeys: readonly string[];
  /** Score histograms: fine bins per class (0 when none were sent). */
  readonly histogramBins: number;
  readonly bootstrapReplicates: number;
  readonly temperatureScan: boolean;
}

export interface RunInput {
  readonly runDir: string;
  readonly federationId: string;
  readonly completedAt: string | undefined;
  /** Why a completed run ended before its plan's last round (the privacy budget), when it did. */
  readonly completedEarlyReason?: string;
  /** run.json of `fl simulate`, when the run was a simulation. */
  readonly run?: {
    readonly status?: string;
    readonly reason?: string;
    readonly durationSec?: number;
    readonly backends?: Readonly<Record<string, { readonly backend: string }>>;
  };
  /** The coordinator's stored config (model and plan), when it recorded one. */
  readonly config?: {
    readonly model?: { readonly architecture?: string; readonly imageSize?: number };
    readonly plan?: {
      readonly phases?: ReadonlyArray<{
        readonly name: string;
        readonly task?: string;
        readonly rounds: number;
      }>;
      readonly evaluateEvery?: number;
      readonly strategy?: { readonly name?: string };
      readonly minSites?: number;
      readonly privacy?: unknown;
      readonly secureAggregation?: unknown;
    };
  };
  readonly sites: readonly SiteRecord[];
  readonly rounds: readonly RoundSummary[];
  readonly evaluations: readonly ReportEvaluation[];
  /** The evaluation of the last committed model, when it was evaluated. */
  readonly final: ReportEvaluation | undefined;
  /** Per round (completed attempt) and site, the training metrics of the accepted update. */
  readonly siteTraining: ReadonlyArray<{
    readonly round: number;
    readonly site: string;
    readonly loss: number;
  }>;
  readonly traffic: readonly SiteTraffic[];
  /** analysis/analysis.json, or why it could not be read. */
  readonly analysis?: AnalysisReport | { readonly error: string };
  /** Saliency PNGs by their path relative to the analysis folder, as data: URIs. */
  readonly images: Readonly<Record<string, string>>;
}

/** A number as a table shows it: with its interval, or saying why it has none. */
export interface Cell {
  readonly value: number;
  readonly interval?: Pick<Interval, "low" | "high" | "replicates">;
  /** "n = 1" when there is one value only (a single replicate or a single image). */
  readonly note?: string;
}

export type Severity = "fail" | "warn" | "ok" | "info";

export interface ReadinessStatement {
  readonly id: string;
  readonly severity: Severity;
  readonly text: string;
  /** The number the statement rests on (null when it rests on an absence). */
  readonly value: number | null;
}

export interface EvaluationRow {
  readonly name: string;
  readonly images: number;
  readonly accuracy: Cell;
  readonly macroF1: Cell;
  readonly f1: readonly Cell[];
  readonly macroAuc: Cell | null;
  readonly mAP: Cell | null;
}

export interface CalibrationRow {
  readonly name: string;
  readonly images: number;
  readonly ece: number;
  readonly adaptiveEce: number;
  readonly mce: number;
  readonly brier: number;
  readonly nll: number;
  readonly temperature?: StatisticsSummary["temperature"];
}

export interface RunReport {
  readonly version: 1;
  readonly generatedAt: string;
  readonly classes: readonly string[];
  readonly classKeys: readonly string[];
  readonly overview: {
    readonly federationId: string;
    readonly completed: boolean;
    readonly completedAt: string | null;
    /** A plain sentence: completed at …, or stopped early after round … of … and why. */
    readonly status: string;
    readonly lastCommittedRound: number;
    readonly plannedRounds: number | null;
    readonly architecture: string | null;
    readonly phases: ReadonlyArray<{
      readonly name: string;
      readonly task: string | null;
      readonly rounds: number;
    }>;
    readonly strategy: string | null;
    readonly evaluateEvery: number | null;
    readonly durationSec: number | null;
    readonly sites: ReadonlyArray<{
      readonly site: string;
      readonly backend: string | null;
      readonly trainClassCounts: readonly number[] | null;
    }>;
  };
  readonly curves: {
    readonly rounds: ReadonlyArray<{
      readonly round: number;
      readonly phase: string;
      readonly accepted: number;
      readonly failures: number;
      readonly trainLoss: number | null;
      readonly trainAccuracy: number | null;
      readonly durationMs: number | null;
    }>;
    readonly siteTraining: RunInput["siteTraining"];
    /** Per evaluated model version: who ("pooled" or a site), which metric, its value. */
    readonly evaluation: ReadonlyArray<{
      readonly round: number;
      readonly modelVersion: number;
      readonly who: string;
      readonly metric: "accuracy" | "macroF1" | "macroAuc";
      readonly value: number;
    }>;
  };
  readonly final: {
    readonly modelVersion: number;
    readonly round: number;
    /** False when the plan stopped early: this is the last committed model, not a final one. */
    readonly isFinalModel: boolean;
    readonly rows: readonly EvaluationRow[];
    readonly confusion: ReadonlyArray<{ readonly name: string; readonly matrix: number[][] }>;
    readonly pooledStatistics: StatisticsSummary | null;
    readonly siteStatistics: Readonly<Record<string, StatisticsSummary>>;
    readonly calibration: readonly CalibrationRow[];
    readonly segmentation: EvaluationSummary["segmentation"] | null;
    /** Site means weighted by test images, when the sites sent ranking metrics but no statistics. */
    readonly ranking: Readonly<Record<string, number>> | null;
  } | null;
  readonly central: {
    readonly siteId: string;
    readonly round: number;
    readonly row: EvaluationRow;
    readonly confusion: number[][];
    readonly statistics: StatisticsSummary | null;
  } | null;
  readonly analysis: AnalysisReport | { readonly error: string } | null;
  readonly privacy: {
    readonly traffic: readonly SiteTraffic[];
    readonly differentialPrivacy: string;
    readonly secureAggregation: string;
    readonly epsilon: ReadonlyArray<{ readonly round: number; readonly epsilon: number }>;
  };
  readonly readiness: readonly ReadinessStatement[];
}
