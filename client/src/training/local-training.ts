import type * as tfc from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";
import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import { confusionMatrix } from "../../../shared/src/metrics/index.js";
import type { ImageSet } from "../../../shared/src/ml/data/types.js";
import type { LoadedBackend } from "../../../shared/src/ml/tf/backend.js";
import { Rng } from "../../../shared/src/random.js";
import { fedProxPenalty, snapshotValues } from "./fedprox.js";

/** The tfjs-core namespace of the loaded backend. */
type Tf = LoadedBackend["tf"];

export interface TrainHyperConfig {
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly classWeighting: "none" | "inverse-frequency";
  readonly maxStepsPerRound: number;
}

/** Inverse-frequency class weights normalised to mean 1 over present classes; absent classes get 0. */
export function inverseFrequencyWeights(labels: ArrayLike<number>, numClasses: number): number[] {
  const counts = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i] as number;
    if (label >= 0) counts[label] = (counts[label] ?? 0) + 1;
  }
  const present = counts.filter((c) => c > 0).length;
  const total = counts.reduce((a, b) => a + b, 0);
  return counts.map((c) => (c > 0 ? total / (present * c) : 0));
}

/** Indices of the labelled images, in a seeded order. */
function labelledOrder(set: ImageSet, seed: number): number[] {
  const labelled: number[] = [];
  for (let i = 0; i < set.count; i++) if ((set.labels[i] as number) >= 0) labelled.push(i);
  return new Rng(seed).shuffle([...labelled]);
}

function gatherImages(tf: Tf, set: ImageSet, indices: readonly number[]): tfc.Tensor4D {
  const pixels = set.size * set.size;
  const batch = new Float32Array(indices.length * pixels);
  for (const [row, index] of indices.entries()) {
    batch.set(set.images.subarray(index * pixels, (index + 1) * pixels), row * pixels);
  }
  return tf.tensor4d(batch, [indices.length, set.size, set.size, 1]);
}

/**
 * One round of local supervised training: softmax cross-entropy on the logits with per-class
 * weights, Adam, a fresh optimizer each round (the usual choice in FedAvg). Runs through
 * `model.fit` because only the layers engine's own training path puts batch-norm layers in
 * training mode (batch statistics, moving averages updated). Batches follow a seeded order.
 */
export async function trainClassifier(
  tf: Tf,
  model: tfl.LayersModel,
  set: ImageSet,
  options: {
    hyper: TrainHyperConfig;
    numClasses: number;
    seed: number;
    /** FedProx μ: adds μ/2·‖w − w_global‖² over the trainable weights (0 or absent: off). */
    fedproxMu?: number;
    onProgress?: (fraction: number) => void;
  },
): Promise<{ numExamples: number; metrics: Record<string, number> }> {
  const { hyper, numClasses } = options;
  const mu = options.fedproxMu ?? 0;
  const trainable = model.trainableWeights.map((w) => w.read());
  const anchor = mu > 0 ? snapshotValues(tf, trainable) : [];
  const order = labelledOrder(set, options.seed);
  if (order.length === 0) throw new FlError(ErrorCode.DataError, "this site has no labelled training images");
  const weights =
    hyper.classWeighting === "inverse-frequency"
      ? inverseFrequencyWeights(set.labels, numClasses)
      : new Array<number>(numClasses).fill(1);
  const stepsPerEpoch = Math.ceil(order.length / hyper.batchSize);
  const totalSteps =
    hyper.maxStepsPerRound > 0
      ? Math.min(hyper.maxStepsPerRound, stepsPerEpoch * hyper.epochs)
      : stepsPerEpoch * hyper.epochs;
  const optimizer = tf.train.adam(hyper.learningRate);
  model.compile({
    optimizer,
    // The closure runs inside fit's gradient tape, so the proximal term's gradient reaches the weights.
    loss: (yTrue: tfc.Tensor, yPred: tfc.Tensor) => {
      const task = tf.losses.softmaxCrossEntropy(yTrue, yPred);
      return mu > 0
        ? tf.add(task, fedProxPenalty(tf, { mu, variables: trainable, globalValues: anchor }))
        : task;
    },
    metrics: ["categoricalAccuracy"],
  });
  let lossSum = 0;
  let accuracySum = 0;
  let examples = 0;
  let step = 0;
  try {
    for (let epoch = 0; step < totalSteps; epoch++) {
      const epochOrder = new Rng(options.seed * 1000 + epoch)
        .shuffle([...order])
        .slice(0, (totalSteps - step) * hyper.batchSize);
      const x = gatherImages(tf, set, epochOrder);
      const labels = epochOrder.map((i) => set.labels[i] as number);
      const y = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, "int32"), numClasses));
      try {
        await model.fit(x, y, {
          batchSize: hyper.batchSize,
          epochs: 1,
          shuffle: false,
          verbose: 0,
          classWeight: Object.fromEntries(weights.map((w, c) => [c, w])),
          callbacks: {
            onBatchEnd: async (_batch, logs) => {
              const size = Math.min(
                hyper.batchSize,
                epochOrder.length - (_batch as number) * hyper.batchSize,
              );
              lossSum += (logs?.loss ?? 0) * size;
              accuracySum += (logs?.categoricalAccuracy ?? 0) * size;
              examples += size;
              step++;
              options.onProgress?.(step / totalSteps);
            },
          },
        });
      } finally {
        tf.dispose([x, y]);
      }
    }
  } finally {
    optimizer.dispose();
    tf.dispose(anchor);
  }
  return {
    numExamples: order.length,
    metrics: { loss: lossSum / examples, accuracy: accuracySum / examples, steps: totalSteps },
  };
}

/** What `evaluateClassifier` returns for a split. */
export interface ClassifierEvaluation {
  /** [truth][predicted] of the argmax of the logits. */
  readonly confusion: number[][];
  readonly numExamples: number;
  /** Mean (unweighted) cross-entropy. */
  readonly metrics: Record<string, number>;
  /** The labelled images' true classes, in set order. */
  readonly labels: Int32Array;
  /** Their softmax probabilities, numExamples × numClasses row-major; they never leave the site. */
  readonly probabilities: Float32Array;
}

/**
 * Predicts the labelled images of a split: confusion matrix, mean loss, and the class
 * probabilities from which the site's statistics (AUC, calibration, bootstrap) are computed.
 */
export async function evaluateClassifier(
  tf: Tf,
  model: tfl.LayersModel,
  set: ImageSet,
  options: { numClasses: number; batchSize?: number },
): Promise<ClassifierEvaluation> {
  const { numClasses } = options;
  const indices: number[] = [];
  for (let i = 0; i < set.count; i++) if ((set.labels[i] as number) >= 0) indices.push(i);
  const predicted: number[] = [];
  const probabilities = new Float32Array(indices.length * numClasses);
  let lossSum = 0;
  const batchSize = options.batchSize ?? 64;
  for (let start = 0; start < indices.length; start += batchSize) {
    const batch = indices.slice(start, start + batchSize);
    const labels = batch.map((i) => set.labels[i] as number);
    const [pred, probs, loss] = tf.tidy(() => {
      const logits = model.apply(gatherImages(tf, set, batch), { training: false }) as tfc.Tensor2D;
      const l = tf.losses.softmaxCrossEntropy(
        tf.oneHot(tf.tensor1d(labels, "int32"), numClasses),
        logits,
        undefined,
        undefined,
        tf.Reduction.SUM,
      );
      // Predictions stay the argmax of the logits, so the confusion matrix is what it always was.
      return [tf.argMax(logits, 1), tf.softmax(logits), l];
    });
    predicted.push(...((await pred.data()) as Int32Array));
    probabilities.set((await probs.data()) as Float32Array, start * numClasses);
    lossSum += (await loss.data())[0] ?? 0;
    tf.dispose([pred, probs, loss]);
  }
  const truth = indices.map((i) => set.labels[i] as number);
  const confusion = confusionMatrix(truth, predicted, numClasses);
  return {
    confusion,
    numExamples: indices.length,
    metrics: { loss: indices.length ? lossSum / indices.length : 0 },
    labels: Int32Array.from(truth),
    probabilities,
  };
}
