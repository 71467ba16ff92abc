import type { EvaluateTask, TrainTask } from "../../../shared/src/fl/task.js";
import type { EvaluationStatistics } from "../../../shared/src/metrics/evaluation-statistics.js";
import type { ModelWeights } from "../../../shared/src/weights/types.js";

/** Progress of a task: the fraction done (0…1) and what it is doing. */
export type Progress = (fraction: number, status: string) => void;

export interface TrainOutcome {
  readonly weights: ModelWeights;
  /** The FedAvg weight of the update. */
  readonly numExamples: number;
  readonly metrics: Record<string, number>;
}

export interface EvaluateOutcome {
  /** [truth][predicted]. */
  readonly confusion: number[][];
  readonly numExamples: number;
  readonly metrics: Record<string, number>;
  /** Histograms and sums of the split's class probabilities, sent with the report. */
  readonly statistics?: EvaluationStatistics;
}

/**
 * What runs a hospital's tasks on its data. The node sees the trainer child process through
 * this (trainer-host.ts), so it never loads TensorFlow itself; tests give it fixed answers.
 */
export interface SiteTrainer {
  train(task: TrainTask, weights: ModelWeights, onProgress: Progress): Promise<TrainOutcome>;
  evaluate(task: EvaluateTask, weights: ModelWeights): Promise<EvaluateOutcome>;
}
