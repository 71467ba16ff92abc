import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import type { OptimizerOptions } from "./optimizer.js";

/** What every local training round of the paper's phases takes. */
export interface LocalRoundOptions {
  /** Images per step. */
  readonly batchSize: number;
  /** Passes over the site's images; default 1. */
  readonly epochs?: number;
  /** Cap on the steps of this round; 0 or absent for no cap. */
  readonly maxSteps?: number;
  readonly optimizer: OptimizerOptions;
  /**
   * Index of this round's first step in the learning-rate schedule, so that one schedule spans
   * all rounds (e.g. round index x steps per round); default 0.
   */
  readonly firstStep?: number;
  /** Seeds batch order, augmentations and masks: the same seed repeats the round exactly. */
  readonly seed: number;
  /** Called after each step with the fraction of the round done. */
  readonly onProgress?: (fraction: number) => void;
  /** Called after each step with that step's numbers (loss parts, learning rate); for logs and tests. */
  readonly onStep?: (index: number, values: Readonly<Record<string, number>>) => void;
}

/** What a round reports back (FedAvg weights updates by `numExamples`). */
export interface LocalRoundResult {
  /** Distinct images the round could draw from (the FedAvg weight). */
  readonly numExamples: number;
  /** Means over the round's steps (weighted by batch size), plus `steps`. */
  readonly metrics: Record<string, number>;
}

/**
 * Runs `step` on each batch, averaging the numbers it returns weighted by batch size, reporting
 * progress, and yielding to the event loop between steps so that a trainer process stays
 * responsive to its parent.
 */
export async function runSteps(
  batches: readonly (readonly number[])[],
  step: (batch: readonly number[], index: number) => Record<string, number>,
  callbacks: Pick<LocalRoundOptions, "onProgress" | "onStep">,
): Promise<Record<string, number>> {
  const sums: Record<string, number> = {};
  let weight = 0;
  for (const [index, batch] of batches.entries()) {
    const values = step(batch, index);
    for (const [key, value] of Object.entries(values)) {
      if (!Number.isFinite(value)) {
        throw new FlError(
          ErrorCode.NonFinite,
          `training diverged: ${key} is ${value} at local step ${index}; lower the learning rate`,
        );
      }
      sums[key] = (sums[key] ?? 0) + value * batch.length;
    }
    weight += batch.length;
    callbacks.onStep?.(index, values);
    callbacks.onProgress?.((index + 1) / batches.length);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  const means = Object.fromEntries(
    Object.entries(sums).map(([key, sum]) => [key, sum / Math.max(weight, 1)]),
  );
  return { ...means, steps: batches.length };
}
