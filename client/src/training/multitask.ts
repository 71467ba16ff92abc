import type * as tfc from "@tensorflow/tfjs-core";
import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import {
  confusionMatrix,
  SegmentationAccumulator,
  type SegmentationCounts,
} from "../../../shared/src/metrics/index.js";
import type { ImageSet } from "../../../shared/src/ml/data/types.js";
import {
  isEncoderWeight,
  type MultitaskNetwork,
  trainableVariables,
} from "../../../shared/src/ml/model/networks.js";
import type { LoadedBackend } from "../../../shared/src/ml/tf/backend.js";
import { Rng } from "../../../shared/src/random.js";
import { type AugmentOptions, augmentBatch, LIGHT_AUGMENT_OPTIONS } from "./augment.js";
import { checkImageSize, gatherImages, gatherMasks, labelledIndices, planBatches } from "./batches.js";
import { inverseFrequencyWeights } from "./local-training.js";
import { focalLoss, segmentationLoss, weightedCrossEntropy } from "./losses.js";
import { isDecayedWeight, ScheduledOptimizer } from "./optimizer.js";
import { type LocalRoundOptions, type LocalRoundResult, runSteps } from "./round.js";

type Tf = LoadedBackend["tf"];

/**
 * λ of loss = classification + λ (BCE + Dice): 2/3 makes the mix 0.6 classification to 0.4
 * segmentation (0.6 L_cls + 0.4 L_seg, scaled by 1/0.6), as in the best SIIM 2021 solutions.
 */
const DEFAULT_SEGMENTATION_WEIGHT = 0.4 / 0.6;

/** Options of a multi-task (or, with segmentationWeight 0, single-task) round. */
export interface MultitaskRoundOptions extends LocalRoundOptions {
  /** Number of classes of the labels (the model's numClasses). */
  readonly numClasses: number;
  /**
   * `fine-tune` (default) trains everything; `linear-probe` freezes the encoder (weights and
   * batch-norm statistics) and trains the heads (and the decoder when segmentationWeight > 0).
   */
  readonly mode?: "fine-tune" | "linear-probe";
  /** `cross-entropy` (default, with class weights) or `focal`. */
  readonly classificationLoss?: "cross-entropy" | "focal";
  /** Focal loss gamma; default 2. */
  readonly focalGamma?: number;
  /** `inverse-frequency` (default, from this site's labels), `none`, or explicit weights per class. */
  readonly classWeighting?: "none" | "inverse-frequency" | readonly number[];
  /** λ; default DEFAULT_SEGMENTATION_WEIGHT. 0 is single-task classification (the ablation). */
  readonly segmentationWeight?: number;
  /** Augmentations (applied to images and masks alike); default LIGHT_AUGMENT_OPTIONS, false for none. */
  readonly augment?: AugmentOptions | false;
}

function classWeightsFor(images: ImageSet, options: MultitaskRoundOptions): number[] {
  const weighting = options.classWeighting ?? "inverse-frequency";
  if (weighting === "none") return new Array<number>(options.numClasses).fill(1);
  if (weighting === "inverse-frequency") return inverseFrequencyWeights(images.labels, options.numClasses);
  if (weighting.length !== options.numClasses || weighting.some((w) => !(w >= 0))) {
    throw new FlError(
      ErrorCode.InvalidConfig,
      `classWeighting has ${weighting.length} weights for ${options.numClasses} classes; give one weight >= 0 per class`,
    );
  }
  return [...weighting];
}

/**
 * One round of local multi-task training on the site's labelled images (label >= 0; the caller
 * applies any label fraction by setting labels to -1): classification loss (weighted
 * cross-entropy or focal) + λ (BCE + soft Dice) on the opacity masks. Batch-norm runs in
 * training mode through the network's eager forward pass.
 */
export async function trainMultitaskRound(
  tf: Tf,
  network: MultitaskNetwork,
  images: ImageSet,
  options: MultitaskRoundOptions,
): Promise<LocalRoundResult> {
  checkImageSize(images, network.layers.spec.imageSize);
  const labelled = labelledIndices(images);
  if (labelled.length === 0)
    throw new FlError(ErrorCode.DataError, "this site has no labelled training images");
  const lambda = options.segmentationWeight ?? DEFAULT_SEGMENTATION_WEIGHT;
  if (!(lambda >= 0))
    throw new FlError(ErrorCode.InvalidConfig, `segmentationWeight must be >= 0 (got ${lambda})`);
  const freezeEncoder = options.mode === "linear-probe";
  const segment = lambda > 0;
  const prefix = network.layers.namePrefix;
  const trains = (name: string) =>
    !(freezeEncoder && isEncoderWeight(name, prefix)) && (segment || !name.startsWith(`${prefix}dec.`));
  const variables = trainableVariables(network.model, trains);
  const decayed = trainableVariables(network.model, (name) => trains(name) && isDecayedWeight(name));
  const classWeights = classWeightsFor(images, options);
  const batches = planBatches(labelled, options);
  const augment = options.augment === undefined ? LIGHT_AUGMENT_OPTIONS : options.augment;
  const optimizer = new ScheduledOptimizer(tf, options.optimizer, options.firstStep);
  try {
    const metrics = await runSteps(
      batches,
      (batch, index) =>
        tf.tidy(() => {
          const rng = Rng.derive(options.seed, index, 0x3a5);
          const raw = gatherImages(tf, images, batch);
          const rawMasks = segment ? gatherMasks(tf, images, batch) : undefined;
          const augmented = augment
            ? augmentBatch(tf, raw, rng, { augment, ...(rawMasks ? { masks: rawMasks } : {}) })
            : undefined;
          const x = augmented?.images ?? raw;
          const masks = augmented?.masks ?? rawMasks;
          const labels = tf.tensor1d(
            batch.map((i) => images.labels[i] as number),
            "int32",
          );
          const parts: Record<string, tfc.Scalar> = {};
          const learningRate = optimizer.learningRate;
          const cost = optimizer.minimize(
            () => {
              const out = segment
                ? network.run(x, { training: true, freezeEncoder })
                : {
                    classLogits: network.classify(x, { training: true, freezeEncoder }),
                    maskLogits: undefined,
                  };
              const classification =
                options.classificationLoss === "focal"
                  ? focalLoss(out.classLogits, labels, { gamma: options.focalGamma ?? 2, classWeights })
                  : weightedCrossEntropy(out.classLogits, labels, classWeights);
              parts.classification = tf.keep(classification);
              if (!segment || !out.maskLogits || !masks) return classification;
              const { bce, dice } = segmentationLoss(out.maskLogits, masks);
              parts.bce = tf.keep(bce);
              parts.dice = tf.keep(dice);
              return tf.add(classification, tf.mul(lambda, tf.add(bce, dice))) as tfc.Scalar;
            },
            variables,
            decayed,
          );
          const values: Record<string, number> = { loss: cost.dataSync()[0] as number, learningRate };
          for (const [key, tensor] of Object.entries(parts)) {
            values[`${key}Loss`] = tensor.dataSync()[0] as number;
            tensor.dispose();
          }
          return values;
        }),
      options,
    );
    return { numExamples: labelled.length, metrics };
  } finally {
    optimizer.dispose();
  }
}

/** What `evaluateMultitask` returns for a split. */
export interface MultitaskEvaluation {
  /** Labelled images evaluated. */
  readonly numExamples: number;
  /** Their indices in the image set, in the order of `labels` and `probabilities`. */
  readonly indices: number[];
  readonly labels: Int32Array;
  /** Softmax probabilities, numExamples x numClasses row-major (for ROC-AUC and mAP). */
  readonly probabilities: Float32Array;
  /** Confusion matrix of argmax predictions, [truth][predicted]. */
  readonly confusion: number[][];
  /** Per-image Dice/IoU sums and pooled pixel counts of the thresholded mask predictions. */
  readonly segmentation: SegmentationCounts;
  /** The same for each image alone, in the order of `labels` (for the bootstrap's Dice). */
  readonly perImage: SegmentationCounts[];
  /** Mean cross-entropy (unweighted) over the evaluated images. */
  readonly metrics: Record<string, number>;
}

/**
 * Predicts the labelled images of a split in inference mode: class probabilities, confusion
 * matrix, and mask predictions (sigmoid >= threshold, default 0.5) summarised as Dice/IoU sums
 * (summable over sites; see shared/src/metrics/segmentation.ts).
 */
export async function evaluateMultitask(
  tf: Tf,
  network: MultitaskNetwork,
  images: ImageSet,
  options: { numClasses: number; batchSize?: number; maskThreshold?: number },
): Promise<MultitaskEvaluation> {
  checkImageSize(images, network.layers.spec.imageSize);
  const indices = labelledIndices(images);
  const { numClasses } = options;
  const batchSize = options.batchSize ?? 32;
  const pixels = images.size * images.size;
  const probabilities = new Float32Array(indices.length * numClasses);
  const predicted: number[] = [];
  const accumulator = new SegmentationAccumulator(options.maskThreshold);
  const perImage: SegmentationCounts[] = [];
  let lossSum = 0;
  for (let start = 0; start < indices.length; start += batchSize) {
    const batch = indices.slice(start, start + batchSize);
    const [probs, maskProbs, loss] = tf.tidy(() => {
      const out = network.run(gatherImages(tf, images, batch), { training: false });
      const labels = tf.tensor1d(
        batch.map((i) => images.labels[i] as number),
        "int32",
      );
      const ce = tf.mul(weightedCrossEntropy(out.classLogits, labels), batch.length);
      return [tf.softmax(out.classLogits), tf.sigmoid(out.maskLogits), ce];
    });
    const probValues = (await probs.data()) as Float32Array;
    const maskValues = (await maskProbs.data()) as Float32Array;
    lossSum += (await loss.data())[0] ?? 0;
    tf.dispose([probs, maskProbs, loss]);
    probabilities.set(probValues, start * numClasses);
    batch.forEach((imageIndex, row) => {
      const p = probValues.subarray(row * numClasses, (row + 1) * numClasses);
      predicted.push(p.indexOf(Math.max(...p)));
      const image = new SegmentationAccumulator(options.maskThreshold);
      image.add(
        maskValues.subarray(row * pixels, (row + 1) * pixels),
        images.masks.subarray(imageIndex * pixels, (imageIndex + 1) * pixels),
      );
      const counts = image.counts();
      perImage.push(counts);
      accumulator.merge(counts);
    });
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  const labels = Int32Array.from(indices, (i) => images.labels[i] as number);
  return {
    numExamples: indices.length,
    indices,
    labels,
    probabilities,
    confusion: confusionMatrix(Array.from(labels), predicted, numClasses),
    segmentation: accumulator.counts(),
    perImage,
    metrics: { loss: indices.length > 0 ? lossSum / indices.length : 0 },
  };
}
