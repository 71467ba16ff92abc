import { manifestOf, readWeights } from "../../../../shared/src/ml/model/index.js";
import { trainClassifier } from "../local-training.js";
import { trainMultitaskNetwork } from "./multitask.js";
import type { TaskTrainerFactory } from "./task-trainer.js";

/**
 * Supervised classification: the small CNN through the layers engine, or the U-Net model's
 * classification head as a multi-task round without the segmentation loss (the paper's ablation).
 */
export const classifyTrainer: TaskTrainerFactory<"classify"> =
  (site) => async (task, weights, images, onProgress) => {
    const spec = task.model;
    if (spec.architecture === "unet-multitask")
      return trainMultitaskNetwork(
        site,
        task,
        { ...task.options, segmentationWeight: 0 },
        weights,
        images,
        onProgress,
      );
    const model = site.networks.smallCnnModel(spec, weights);
    const result = await trainClassifier(site.backend.tf, model, images, {
      hyper: task.train,
      numClasses: spec.numClasses,
      seed: task.seed,
      fedproxMu: task.fedproxMu,
      onProgress: (fraction) => onProgress(fraction, "training"),
    });
    return {
      weights: readWeights(model, manifestOf(model)),
      numExamples: result.numExamples,
      metrics: result.metrics,
    };
  };
