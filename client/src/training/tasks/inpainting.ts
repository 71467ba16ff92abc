import { manifestOf, readWeights } from "../../../../shared/src/ml/model/index.js";
import { trainInpaintingRound } from "../inpainting.js";
import type { TaskTrainerFactory } from "./task-trainer.js";
import { unetRoundOptions, unetSpecOf } from "./unet-round.js";

/** Inpainting pre-training of the encoder and decoder: reconstruct hidden rectangles of each image. */
export const inpaintingTrainer: TaskTrainerFactory<"inpainting"> =
  (site) => async (task, weights, images, onProgress) => {
    const { options } = task;
    const network = site.networks.phaseNetwork(unetSpecOf(task), "inpainting", weights);
    const result = await trainInpaintingRound(site.backend.tf, network, images, {
      ...unetRoundOptions(task, images, onProgress),
      ...(options.loss && { loss: options.loss }),
      ...(options.fill && { fill: options.fill }),
      ...(!options.augment && { augment: false as const }),
    });
    return { weights: readWeights(network.model, manifestOf(network.model)), ...result };
  };
