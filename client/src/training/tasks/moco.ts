import type { UnetMultitaskSpec } from "../../../../shared/src/fl/model-spec.js";
import { manifestOf, readWeights, writeWeights } from "../../../../shared/src/ml/model/index.js";
import {
  copyQueryToKey,
  createMocoModels,
  type FeatureQueue,
  MOCO_DEFAULTS,
  type MocoModels,
  trainMocoRound,
} from "../moco.js";
import type { TaskTrainerFactory } from "./task-trainer.js";
import { unetRoundOptions, unetSpecOf } from "./unet-round.js";

/**
 * MoCo v2 pre-training of the encoder. The key network and the queue never leave the hospital:
 * they stay in this trainer between rounds (one set per model spec).
 */
export const mocoTrainer: TaskTrainerFactory<"moco"> = (site) => {
  let state: { key: string; models: MocoModels; keyReady: boolean; queue?: FeatureQueue } | undefined;
  const stateFor = (spec: UnetMultitaskSpec) => {
    const key = JSON.stringify(spec);
    if (state?.key !== key) state = { key, models: createMocoModels(spec), keyReady: false };
    return state;
  };
  return async (task, weights, images, onProgress) => {
    const { options } = task;
    const device = MOCO_DEFAULTS[site.backend.name === "tensorflow-gpu" ? "gpu" : "cpu"];
    const current = stateFor(unetSpecOf(task));
    writeWeights(current.models.query.model, weights);
    // The key encoder starts as the first global query encoder this site sees, then follows it
    // by momentum, round after round.
    if (!current.keyReady) {
      copyQueryToKey(current.models);
      current.keyReady = true;
    }
    const result = await trainMocoRound(site.backend.tf, current.models, images, {
      ...unetRoundOptions(task, images, onProgress),
      ...(options.temperature !== undefined && { temperature: options.temperature }),
      ...(options.momentum !== undefined && { momentum: options.momentum }),
      // Sized for the device unless the plan says otherwise: a longer queue and more BN groups on a GPU.
      queueSize: options.queueSize ?? device.queueSize,
      shuffleBnGroups: options.shuffleBnGroups ?? device.shuffleBnGroups,
      ...(current.queue && { queue: current.queue }),
    });
    current.queue = result.queue;
    const query = current.models.query.model;
    return {
      weights: readWeights(query, manifestOf(query)),
      numExamples: result.numExamples,
      metrics: result.metrics,
    };
  };
};
