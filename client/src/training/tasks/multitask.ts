import type { TrainTask, TrainTaskOf } from "../../../../shared/src/fl/task.js";
import type { ImageSet } from "../../../../shared/src/ml/data/types.js";
import { manifestOf, readWeights } from "../../../../shared/src/ml/model/index.js";
import type { ModelWeights } from "../../../../shared/src/weights/types.js";
import { trainMultitaskRound } from "../multitask.js";
import type { Progress, TrainOutcome } from "../trainer.js";
import type { TaskTrainerFactory, TrainerSite } from "./task-trainer.js";
import { unetRoundOptions, unetSpecOf } from "./unet-round.js";

/** Classification plus segmentation of the opacities on the U-Net model (cls + λ·(BCE + Dice)). */
export const multitaskTrainer: TaskTrainerFactory<"multitask"> =
  (site) => (task, weights, images, onProgress) =>
    trainMultitaskNetwork(site, task, task.options, weights, images, onProgress);

/** A round on the multi-task network; classification is the same round with λ = 0. */
export async function trainMultitaskNetwork(
  site: TrainerSite,
  task: TrainTask,
  options: TrainTaskOf<"multitask">["options"],
  weights: ModelWeights,
  images: ImageSet,
  onProgress: Progress,
): Promise<TrainOutcome> {
  const spec = unetSpecOf(task);
  const network = site.networks.phaseNetwork(spec, "multitask", weights);
  const result = await trainMultitaskRound(site.backend.tf, network, images, {
    ...unetRoundOptions(task, images, onProgress),
    numClasses: spec.numClasses,
    classWeighting: task.train.classWeighting,
    ...(options.mode && { mode: options.mode }),
    ...(options.classificationLoss && { classificationLoss: options.classificationLoss }),
    ...(options.focalGamma !== undefined && { focalGamma: options.focalGamma }),
    ...(options.segmentationWeight !== undefined && { segmentationWeight: options.segmentationWeight }),
    ...(!options.augment && { augment: false as const }),
  });
  return { weights: readWeights(network.model, manifestOf(network.model)), ...result };
}
