import type * as tfc from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import {
  buildReferenceModel,
  REFERENCE_BATCH,
  REFERENCE_CLASSES,
  referenceTrainingFlops,
} from "../reference-model.js";
import { type BuiltWorkload, countWeights, type Tf, type WorkloadDefinition } from "./workload.js";

/**
 * The reference model: Adam 1e-3, categorical cross-entropy on softmax outputs, batch
 * norm in training mode, on fixed random images.
 */
export const referenceWorkload: WorkloadDefinition = {
  name: "reference",
  description: "4 x [conv3x3-BN-ReLU, conv3x3/2-BN-ReLU] (16,32,64,128), GAP, dense 4 softmax; Adam 1e-3",
  sizes: [64, 128],
  batch: REFERENCE_BATCH,
  trainingFlopsPerImage: referenceTrainingFlops,
  build(tf: Tf, inputSize: number): BuiltWorkload {
    const model = buildReferenceModel(inputSize);
    const optimizer = tf.train.adam(1e-3);
    const x = tf.randomNormal([REFERENCE_BATCH, inputSize, inputSize, 1], 0, 1, "float32", 7);
    const labels = tf.tensor1d(
      Array.from({ length: REFERENCE_BATCH }, (_, i) => i % REFERENCE_CLASSES),
      "int32",
    );
    const y = tf.tidy(() => tf.cast(tf.oneHot(labels, REFERENCE_CLASSES), "float32"));
    return {
      parameters: countWeights(model),
      step: async () =>
        tf.tidy(() => {
          const cost = optimizer.minimize(() => {
            const predicted = model.apply(x, { training: true }) as tfc.Tensor;
            return tf.mean(tfl.metrics.categoricalCrossentropy(y, predicted)) as tfc.Scalar;
          }, true);
          return (cost?.dataSync()[0] as number | undefined) ?? Number.NaN;
        }),
      dispose() {
        optimizer.dispose();
        model.dispose();
        tf.dispose([x, labels, y]);
      },
    };
  },
};
