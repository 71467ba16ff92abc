import type * as tfc from "@tensorflow/tfjs-core";
import { infoNce, l2Normalize } from "../../client/src/training/losses.js";
import {
  createMocoModels,
  FeatureQueue,
  MOCO_DEFAULTS,
  runInGroups,
} from "../../client/src/training/moco.js";
import { ScheduledOptimizer } from "../../client/src/training/optimizer.js";
import { trainableVariables } from "../../shared/src/ml/model/networks.js";
import { Rng } from "../../shared/src/random.js";
import { PAPER_CPU_SCALE, tinyUnetSpec } from "./unet-spec.js";
import { type BuiltWorkload, countWeights, type Tf, type WorkloadDefinition } from "./workload.js";

/**
 * The MoCo v2 step of trainMocoRound (client/src/training/moco.ts) on two fixed views, without
 * the augmentation that makes them: key EMA, keys through shuffled BN groups, InfoNCE against
 * the queue, Adam on the query network, keys enqueued. CPU defaults (MOCO_DEFAULTS.cpu) at the
 * paper benchmark's batch.
 */
export const mocoWorkload: WorkloadDefinition = {
  name: "moco",
  description: "MoCo v2 on the tiny encoder, 32x32, batch 16, queue 1024, 2 BN groups; Adam 2e-3",
  sizes: [PAPER_CPU_SCALE.imageSize],
  batch: PAPER_CPU_SCALE.batchSize,
  build(tf: Tf, inputSize: number): BuiltWorkload {
    const { batchSize } = PAPER_CPU_SCALE;
    const { momentum, temperature, queueSize, shuffleBnGroups } = MOCO_DEFAULTS.cpu;
    const spec = tinyUnetSpec(inputSize, "moco");
    const models = createMocoModels(spec);
    const queryVariables = trainableVariables(models.query.model);
    const keyVariables = trainableVariables(models.key.model);
    const queue = FeatureQueue.random(queueSize, spec.projectionDim, new Rng(7));
    const optimizer = new ScheduledOptimizer(tf, {
      kind: "adam",
      learningRate: PAPER_CPU_SCALE.learningRate,
    });
    const queryView = tf.randomNormal(
      [batchSize, inputSize, inputSize, 1],
      0,
      1,
      "float32",
      7,
    ) as tfc.Tensor4D;
    const keyView = tf.randomNormal([batchSize, inputSize, inputSize, 1], 0, 1, "float32", 8) as tfc.Tensor4D;
    const inOrder = Array.from({ length: batchSize }, (_, i) => i);
    const rng = new Rng(9);
    const query = countWeights(models.query.model);
    return {
      parameters: { trainable: query.trainable, total: query.total + countWeights(models.key.model).total },
      step: async () =>
        tf.tidy(() => {
          tf.tidy(() => {
            keyVariables.forEach((key, i) => {
              key.assign(
                tf.add(tf.mul(key, momentum), tf.mul(queryVariables[i] as tfc.Variable, 1 - momentum)),
              );
            });
          });
          const shuffled = rng.shuffle([...inOrder]);
          const keys = l2Normalize(runInGroups(tf, models.key, keyView, shuffled, shuffleBnGroups));
          const negatives = tf.tensor2d(queue.toArray(), [queue.size, queue.dim]);
          let accuracy: tfc.Scalar | undefined;
          const cost = optimizer.minimize(() => {
            const queries = runInGroups(tf, models.query, queryView, inOrder, shuffleBnGroups);
            const result = infoNce(queries, keys, negatives, temperature);
            accuracy = tf.keep(result.accuracy);
            return result.loss;
          }, queryVariables);
          const loss = cost.dataSync()[0] as number;
          accuracy?.dataSync();
          accuracy?.dispose();
          queue.enqueue(keys.dataSync() as Float32Array);
          return loss;
        }),
      dispose() {
        optimizer.dispose();
        models.query.dispose();
        models.key.dispose();
        tf.dispose([queryView, keyView]);
      },
    };
  },
};
