import { ErrorCode, FlError } from "../../../shared/src/errors.js";

/** The learning rate of optimisation step `step` (0-based, counted across rounds when the caller says so). */
export type LearningRateSchedule = (step: number) => number;

/** Options of `cosineWithWarmup`. */
export interface CosineScheduleOptions {
  /** Peak learning rate, reached at the end of the warm-up. */
  readonly baseLearningRate: number;
  /** Steps of linear warm-up from `baseLearningRate / warmupSteps` up to the peak; 0 for none. */
  readonly warmupSteps: number;
  /** Step at which the cosine reaches `minLearningRate`; later steps stay there. */
  readonly totalSteps: number;
  /** Floor of the decay; default 0. */
  readonly minLearningRate?: number;
}

/**
 * Linear warm-up then half-cosine decay (Goyal et al. 2017 warm-up; SGDR/MoCo v2 cosine).
 * Warm-up step s (0-based) gets base * (s + 1) / warmup, so the first step is never 0; after the
 * warm-up, lr = min + (base - min) * (1 + cos(pi * t)) / 2 with t the fraction of decay done.
 * Pure.
 */
export function cosineWithWarmup(options: CosineScheduleOptions): LearningRateSchedule {
  const { baseLearningRate: base, warmupSteps: warmup, totalSteps: total } = options;
  const floor = options.minLearningRate ?? 0;
  if (!(base > 0) || warmup < 0 || total < warmup || floor < 0 || floor > base) {
    throw new FlError(
      ErrorCode.InvalidConfig,
      `invalid cosine schedule: need base > 0, 0 <= warmupSteps <= totalSteps, 0 <= min <= base (got ${JSON.stringify(options)})`,
    );
  }
  return (step) => {
    if (step < warmup) return (base * (step + 1)) / warmup;
    const decaySteps = total - warmup;
    if (decaySteps <= 0) return base;
    const t = Math.min(1, (step - warmup) / decaySteps);
    return floor + ((base - floor) * (1 + Math.cos(Math.PI * t))) / 2;
  };
}

/** The same rate at every step. */
export function constantSchedule(learningRate: number): LearningRateSchedule {
  return () => learningRate;
}
