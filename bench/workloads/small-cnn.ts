import type { SmallCnnSpec } from "../../shared/src/fl/model-spec.js";
import { buildSmallCnn } from "../../shared/src/ml/model/small-cnn.js";
import { type BuiltWorkload, countWeights, type Tf, type WorkloadDefinition } from "./workload.js";

/** `fl simulate`'s defaults (cli/simulate/config.ts, run-simulation.ts). */
export const SIMULATION_SMALL_CNN = {
  imageSize: 64,
  widths: [16, 32, 64],
  numClasses: 4,
  batchSize: 16,
  learningRate: 2e-3,
} as const;

/**
 * The default simulation's classifier step, through the layers engine as trainClassifier
 * (client/src/training/local-training.ts) trains it: Adam, softmax cross-entropy on the logits,
 * categorical accuracy. trainOnBatch is fit's step without its per-epoch bookkeeping; the class
 * weights fit would apply are all 1 on balanced labels.
 */
export const smallCnnWorkload: WorkloadDefinition = {
  name: "small-cnn",
  description: "the default simulation's small CNN (16,32,64) at 64x64, batch 16; Adam 2e-3 (report only)",
  sizes: [SIMULATION_SMALL_CNN.imageSize],
  batch: SIMULATION_SMALL_CNN.batchSize,
  build(tf: Tf, inputSize: number): BuiltWorkload {
    const { numClasses, batchSize } = SIMULATION_SMALL_CNN;
    const spec: SmallCnnSpec = {
      architecture: "small-cnn",
      imageSize: inputSize,
      widths: [...SIMULATION_SMALL_CNN.widths],
      numClasses,
      seed: 7,
    };
    const model = buildSmallCnn(spec);
    const optimizer = tf.train.adam(SIMULATION_SMALL_CNN.learningRate);
    model.compile({
      optimizer,
      loss: (yTrue, yPred) => tf.losses.softmaxCrossEntropy(yTrue, yPred),
      metrics: ["categoricalAccuracy"],
    });
    const x = tf.randomNormal([batchSize, inputSize, inputSize, 1], 0, 1, "float32", 7);
    const y = tf.tidy(() =>
      tf.oneHot(
        tf.tensor1d(
          Array.from({ length: batchSize }, (_, i) => i % numClasses),
          "int32",
        ),
        numClasses,
      ),
    );
    return {
      parameters: countWeights(model),
      async step() {
        const logs = await model.trainOnBatch(x, y);
        return Array.isArray(logs) ? (logs[0] as number) : logs;
      },
      dispose() {
        optimizer.dispose();
        model.dispose();
        tf.dispose([x, y]);
      },
    };
  },
};
