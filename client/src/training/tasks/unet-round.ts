import { ErrorCode, FlError } from "../../../../shared/src/errors.js";
import type { UnetMultitaskSpec } from "../../../../shared/src/fl/model-spec.js";
import type { TrainTask } from "../../../../shared/src/fl/task.js";
import { taskKind } from "../../../../shared/src/fl/task-kinds.js";
import type { ImageSet } from "../../../../shared/src/ml/data/types.js";
import { allIndices, labelledIndices, planBatches } from "../batches.js";
import type { LocalRoundOptions } from "../round.js";
import { cosineWithWarmup } from "../schedule.js";
import type { Progress } from "../trainer.js";

/** The task's model as the U-Net model, which every kind but the small CNN's classification needs. */
export function unetSpecOf(task: TrainTask): UnetMultitaskSpec {
  if (task.model.architecture === "unet-multitask") return task.model;
  throw new FlError(
    ErrorCode.Unsupported,
    `task "${task.task}" needs the unet-multitask model; ${task.model.architecture} only classifies`,
  );
}

/** The local round every U-Net task kind runs: batches, optimiser, and its place in the phase's schedule. */
export function unetRoundOptions(task: TrainTask, images: ImageSet, onProgress: Progress): LocalRoundOptions {
  const hyper = task.train;
  const steps = {
    batchSize: hyper.batchSize,
    epochs: hyper.epochs,
    maxSteps: hyper.maxStepsPerRound,
    seed: task.seed,
  };
  // One schedule spans the whole phase: this round starts where the previous one ended.
  const stepsPerRound = planBatches(
    taskKind(task.task).supervised ? labelledIndices(images) : allIndices(images),
    steps,
  ).length;
  const learningRate =
    hyper.schedule === "cosine"
      ? cosineWithWarmup({
          baseLearningRate: hyper.learningRate,
          warmupSteps: hyper.warmupSteps,
          totalSteps: Math.max(1, stepsPerRound * task.phaseRounds),
        })
      : hyper.learningRate;
  return {
    ...steps,
    optimizer: {
      kind: hyper.optimizer,
      learningRate,
      momentum: hyper.momentum,
      weightDecay: hyper.weightDecay,
      proximalMu: task.fedproxMu,
    },
    firstStep: (task.roundInPhase - 1) * stepsPerRound,
    onProgress: (fraction) => onProgress(fraction, task.task),
  };
}
