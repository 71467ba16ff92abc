import * as tf from "@tensorflow/tfjs-core";

/**
 * Losses of the paper's phases, on tensors (differentiable; run them inside an optimizer's
 * minimize or tf.tidy). Every loss returns a scalar averaged as documented, so that values are
 * comparable across batch sizes.
 */

/** Per-example class weights gathered from `classWeights` by label; all ones when absent. */
function exampleWeights(labels: tf.Tensor1D, classWeights: readonly number[] | undefined): tf.Tensor1D {
  if (!classWeights) return tf.ones([labels.shape[0]], "float32") as tf.Tensor1D;
  return tf.gather(tf.tensor1d([...classWeights], "float32"), labels) as tf.Tensor1D;
}

/**
 * Softmax cross-entropy with class weights: mean over the batch of w[y] * -log p(y). With weights
 * normalised to mean 1 over the training examples (`inverseFrequencyWeights`), this is an
 * unbiased estimate of the class-balanced loss. `labels` are int32 class indices (all >= 0).
 */
export function weightedCrossEntropy(
  logits: tf.Tensor2D,
  labels: tf.Tensor1D,
  classWeights?: readonly number[],
): tf.Scalar {
  return tf.tidy(() => {
    const logProbs = tf.logSoftmax(logits);
    const picked = tf.sum(tf.mul(logProbs, tf.oneHot(labels, logits.shape[1])), 1);
    return tf.neg(tf.mean(tf.mul(picked, exampleWeights(labels, classWeights)))) as tf.Scalar;
  });
}

/**
 * Focal loss (Lin et al. 2017): mean over the batch of w[y] * (1 - p(y))^gamma * -log p(y).
 * gamma = 0 is `weightedCrossEntropy`.
 */
export function focalLoss(
  logits: tf.Tensor2D,
  labels: tf.Tensor1D,
  options: { gamma: number; classWeights?: readonly number[] },
): tf.Scalar {
  return tf.tidy(() => {
    const logProbs = tf.logSoftmax(logits);
    const picked = tf.sum(tf.mul(logProbs, tf.oneHot(labels, logits.shape[1])), 1);
    const modulation = tf.pow(tf.sub(1, tf.exp(picked)), options.gamma);
    const perExample = tf.mul(tf.mul(modulation, picked), exampleWeights(labels, options.classWeights));
    return tf.neg(tf.mean(perExample)) as tf.Scalar;
  });
}

/**
 * Binary cross-entropy on logits, mean over every pixel of the batch, computed stably as
 * max(x, 0) - x z + log(1 + exp(-|x|)).
 */
export function binaryCrossEntropyWithLogits(logits: tf.Tensor, targets: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const linear = tf.sub(tf.relu(logits), tf.mul(logits, targets));
    return tf.mean(tf.add(linear, tf.log1p(tf.exp(tf.neg(tf.abs(logits)))))) as tf.Scalar;
  });
}

/**
 * Soft Dice loss on logits over the whole batch: 1 - (2 sum(p g) + s) / (sum(p) + sum(g) + s)
 * with p = sigmoid(logits) and smoothing s (default 1). Pooling the batch (rather than averaging
 * per-image Dice) keeps the loss defined and stable when most masks are empty (negative studies).
 */
export function softDiceLoss(logits: tf.Tensor, targets: tf.Tensor, smooth = 1): tf.Scalar {
  return tf.tidy(() => {
    const p = tf.sigmoid(logits);
    const intersection = tf.sum(tf.mul(p, targets));
    const total = tf.add(tf.sum(p), tf.sum(targets));
    return tf.sub(1, tf.div(tf.add(tf.mul(2, intersection), smooth), tf.add(total, smooth))) as tf.Scalar;
  });
}

/** BCE + soft Dice, the segmentation half of the multi-task loss. */
export function segmentationLoss(logits: tf.Tensor, targets: tf.Tensor): { bce: tf.Scalar; dice: tf.Scalar } {
  return { bce: binaryCrossEntropyWithLogits(logits, targets), dice: softDiceLoss(logits, targets) };
}

/**
 * Reconstruction error on the masked pixels only, normalised by their number: sum(|y - x| m) /
 * sum(m) for L1, squared for L2. A batch without masked pixels gives 0.
 */
export function maskedReconstructionLoss(
  predicted: tf.Tensor,
  target: tf.Tensor,
  mask: tf.Tensor,
  kind: "l1" | "l2" = "l1",
): tf.Scalar {
  return tf.tidy(() => {
    const difference = tf.sub(predicted, target);
    const error = kind === "l1" ? tf.abs(difference) : tf.square(difference);
    return tf.div(tf.sum(tf.mul(error, mask)), tf.maximum(tf.sum(mask), 1)) as tf.Scalar;
  });
}

/** Rows scaled to unit L2 norm (rows of zeros stay zero). */
export function l2Normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.div(x, tf.maximum(tf.norm(x, "euclidean", 1, true), 1e-12)) as tf.Tensor2D);
}

/**
 * MoCo's InfoNCE loss. For each query q_i (row of `q`), its positive key k_i (row of `k`) and
 * the K negatives in `queue`: logits = [q_i . k_i, q_i . n_1, ..., q_i . n_K] / T, loss =
 * mean_i -log softmax(logits_i)[0]. `q` and `k` are L2-normalised here; `queue` rows must already
 * be unit vectors (the feature queue stores normalised keys); a queue with 0 rows leaves only the
 * positive (loss 0). Gradients flow into `q` only when `k` and `queue` are constants, as in MoCo.
 * Also returns the fraction of queries whose positive has the largest logit.
 */
export function infoNce(
  q: tf.Tensor2D,
  k: tf.Tensor2D,
  queue: tf.Tensor2D,
  temperature: number,
): { loss: tf.Scalar; accuracy: tf.Scalar } {
  return tf.tidy(() => {
    const qn = l2Normalize(q);
    const kn = l2Normalize(k);
    const positive = tf.sum(tf.mul(qn, kn), 1, true);
    const logits = tf.div(
      queue.shape[0] > 0 ? tf.concat([positive, tf.matMul(qn, queue, false, true)], 1) : positive,
      temperature,
    );
    const loss = tf.mean(tf.sub(tf.logSumExp(logits, 1), tf.squeeze(tf.slice(logits, [0, 0], [-1, 1]), [1])));
    const accuracy = tf.mean(tf.cast(tf.equal(tf.argMax(logits, 1), 0), "float32"));
    return { loss: loss as tf.Scalar, accuracy: accuracy as tf.Scalar };
  });
}
