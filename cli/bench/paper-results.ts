/** The shapes of the paper benchmark's results (results.json), shared by the pure summaries. */

import type { BenchFingerprint } from "./fingerprint.js";
import type { PaperSizes } from "./paper-grid.js";
import type { Estimate, PairedEstimate, Verdict } from "./stats.js";

/** The numbers a run contributes to the table. */
export interface RunMetrics {
  readonly macroF1: number;
  readonly accuracy: number;
  readonly mAP: number;
  readonly macroAuc: number;
  readonly dice: number;
  readonly f1: Readonly<Record<string, number>>;
}

export type MetricKey = "macroF1" | "accuracy" | "mAP" | "macroAuc" | "dice";

export interface BenchRun {
  readonly seed: number;
  readonly metrics: RunMetrics;
  /** How long the run took when it ran (also when it is reused from an earlier start). */
  readonly seconds: number;
  /** Reused from an earlier start with the same settings rather than run now. */
  readonly reused: boolean;
}

export interface BenchRow {
  /** A grid setting's name, or `<setting> centralised` / `<setting> local-only`. */
  readonly name: string;
  readonly kind: "federated" | "centralised" | "local-only";
  readonly runs: BenchRun[];
}

export interface RowSummary {
  readonly name: string;
  readonly kind: BenchRow["kind"];
  readonly estimates: Readonly<Record<MetricKey, Estimate>>;
}

export interface Finding {
  readonly id: string;
  /** The claim as "a beats b", tested on the paired difference a − b. */
  readonly claim: string;
  /** How the difference is formed, in words. */
  readonly contrast: string;
  readonly metric: string;
  readonly difference: PairedEstimate;
  readonly verdict: Verdict;
  /** The same contrast on mAP, where it applies (ranking rather than thresholded labels). */
  readonly mAP?: { readonly difference: PairedEstimate; readonly verdict: Verdict };
  /** Why the number may mislead (selection, few seeds), when it might. */
  readonly caveat?: string;
}

export interface PaperResults {
  readonly fingerprint: BenchFingerprint;
  readonly sizes: PaperSizes;
  readonly seeds: readonly number[];
  readonly preset: string;
  readonly seconds: number;
  readonly confidence: number;
  readonly rows: readonly BenchRow[];
  readonly summaries: readonly RowSummary[];
  readonly findings: readonly Finding[];
}
