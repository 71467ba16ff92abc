import type * as tfc from "@tensorflow/tfjs-core";
import { segmentationLoss, weightedCrossEntropy } from "../../client/src/training/losses.js";
import { ScheduledOptimizer } from "../../client/src/training/optimizer.js";
import { buildMultitaskNetwork, trainableVariables } from "../../shared/src/ml/model/networks.js";
import { PAPER_CPU_SCALE, tinyUnetSpec } from "./unet-spec.js";
import { type BuiltWorkload, countWeights, type Tf, type WorkloadDefinition } from "./workload.js";

/** multitask.ts' default λ: 0.6 classification to 0.4 segmentation. */
const SEGMENTATION_WEIGHT = 0.4 / 0.6;

/**
 * The multi-task step of trainMultitaskRound (client/src/training/multitask.ts) without the
 * data pipeline (gather, augmentation), which the twin does not have either: weighted
 * cross-entropy + λ (BCE + soft Dice) through the network's eager forward pass, Adam.
 */
export const multitaskWorkload: WorkloadDefinition = {
  name: "multitask",
  description: "tiny ResNet + U-Net, class + mask losses, 32x32, batch 16; Adam 2e-3",
  sizes: [PAPER_CPU_SCALE.imageSize],
  batch: PAPER_CPU_SCALE.batchSize,
  build(tf: Tf, inputSize: number): BuiltWorkload {
    const { batchSize, numClasses } = PAPER_CPU_SCALE;
    const network = buildMultitaskNetwork(tinyUnetSpec(inputSize, "multitask"));
    const variables = trainableVariables(network.model);
    const optimizer = new ScheduledOptimizer(tf, {
      kind: "adam",
      learningRate: PAPER_CPU_SCALE.learningRate,
    });
    const x = tf.randomNormal([batchSize, inputSize, inputSize, 1], 0, 1, "float32", 7) as tfc.Tensor4D;
    const masks = tf.tidy(() =>
      tf.cast(
        tf.greater(tf.randomUniform([batchSize, inputSize, inputSize, 1], 0, 1, "float32", 8), 0.8),
        "float32",
      ),
    );
    const labels = tf.tensor1d(
      Array.from({ length: batchSize }, (_, i) => i % numClasses),
      "int32",
    );
    // Inverse-frequency weights of balanced labels.
    const classWeights = new Array<number>(numClasses).fill(1);
    return {
      parameters: countWeights(network.model),
      step: async () =>
        tf.tidy(() => {
          const cost = optimizer.minimize(() => {
            const out = network.run(x, { training: true });
            const classification = weightedCrossEntropy(out.classLogits, labels, classWeights);
            const { bce, dice } = segmentationLoss(out.maskLogits, masks);
            return tf.add(classification, tf.mul(SEGMENTATION_WEIGHT, tf.add(bce, dice))) as tfc.Scalar;
          }, variables);
          return cost.dataSync()[0] as number;
        }),
      dispose() {
        optimizer.dispose();
        network.dispose();
        tf.dispose([x, masks, labels]);
      },
    };
  },
};
