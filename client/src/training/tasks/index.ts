import type { TrainTask } from "../../../../shared/src/fl/task.js";
import { type TaskKindName, taskKind } from "../../../../shared/src/fl/task-kinds.js";
import type { ModelWeights } from "../../../../shared/src/weights/types.js";
import { applyLabelFraction } from "../label-fraction.js";
import type { Progress, TrainOutcome } from "../trainer.js";
import { classifyTrainer } from "./classify.js";
import { inpaintingTrainer } from "./inpainting.js";
import { mocoTrainer } from "./moco.js";
import { multitaskTrainer } from "./multitask.js";
import type { TaskTrainer, TaskTrainerFactory, TrainerSite } from "./task-trainer.js";

/**
 * The hospital's trainer of every task kind. Typed by the declarations in
 * shared/src/fl/task-kinds.ts: a kind declared there without a trainer here does not compile.
 */
const TRAINERS: { readonly [K in TaskKindName]: TaskTrainerFactory<K> } = {
  classify: classifyTrainer,
  multitask: multitaskTrainer,
  moco: mocoTrainer,
  inpainting: inpaintingTrainer,
};

export type { TrainerSite } from "./task-trainer.js";

/** Trains any task on the site: each kind's trainer, on the labels the kind may use. */
export function createTaskTrainer(
  site: TrainerSite,
): (task: TrainTask, weights: ModelWeights, onProgress: Progress) => Promise<TrainOutcome> {
  const trainers = new Map<TaskKindName, TaskTrainer<TaskKindName>>();
  return (task, weights, onProgress) => {
    let train = trainers.get(task.task);
    if (!train) {
      // The registry's mapped type pairs each kind with its own trainer; TypeScript cannot carry
      // that pairing through the union of kinds, so the trainer is looked up by name.
      train = (TRAINERS[task.task] as TaskTrainerFactory<TaskKindName>)(site);
      trainers.set(task.task, train);
    }
    // Self-supervised kinds learn from every image; supervised ones only from the phase's share of labels.
    const images = taskKind(task.task).supervised
      ? applyLabelFraction(site.data.train, task.labelFraction, task.seed)
      : site.data.train;
    return train(task, weights, images, onProgress);
  };
}
