import type * as tfc from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";
import type { SmallCnnSpec } from "../../shared/src/fl/model-spec.js";
import type { LoadedBackend } from "../../shared/src/ml/tf/backend.js";

type Tf = LoadedBackend["tf"];

/** tfjs-layers' batch-normalisation default, which buildSmallCnn keeps. */
const BN_EPSILON = 1e-3;

/**
 * The small CNN's trainable tensors in a fixed order: per conv layer [kernel, gamma, beta], then
 * the head's [kernel, bias]. These are what a one-step update moves, and so what the attacker
 * matches; the batch-norm moving statistics are not gradients.
 */
export interface CnnParams {
  readonly spec: SmallCnnSpec;
  readonly tensors: readonly tfc.Tensor[];
}

export function convLayerNames(spec: SmallCnnSpec): string[] {
  return spec.widths.flatMap((_, i) => [`stage${i + 1}.conv1`, `stage${i + 1}.conv2`]);
}

/** Copies of a built small CNN's trainable tensors (the caller disposes them). */
export function cnnParamsOf(tf: Tf, model: tfl.LayersModel, spec: SmallCnnSpec): CnnParams {
  const tensors: tfc.Tensor[] = [];
  for (const name of convLayerNames(spec)) {
    const [kernel] = model.getLayer(name).getWeights();
    const [gamma, beta] = model.getLayer(`${name}.bn`).getWeights();
    tensors.push(...[kernel, gamma, beta].map((t) => tf.clone(t as tfc.Tensor)));
  }
  const [kernel, bias] = model.getLayer("head.logits").getWeights();
  tensors.push(tf.clone(kernel as tfc.Tensor), tf.clone(bias as tfc.Tensor));
  return { spec, tensors };
}

/**
 * The small CNN's forward pass as plain tfjs-core ops on explicit weights, batch-norm in training
 * mode (batch statistics, as during the local step being attacked). Written out instead of
 * calling the layers model because the attack needs the weight gradient as a function of the
 * input and then its gradient again, which tfjs-layers' training path (fit, moving-average
 * writes) does not allow. The integration test checks it against the layers model.
 */
export function cnnLogits(
  tf: Tf,
  spec: SmallCnnSpec,
  weights: readonly tfc.Tensor[],
  x: tfc.Tensor4D,
): tfc.Tensor2D {
  return cnnForward(tf, spec, weights, x).logits;
}

/** One batch-norm layer's batch statistics: per-channel mean and biased variance of its input. */
export interface BatchStats {
  readonly mean: tfc.Tensor1D;
  readonly variance: tfc.Tensor1D;
}

/** The forward pass, with the batch statistics each batch-norm layer normalised by. */
export function cnnForward(
  tf: Tf,
  spec: SmallCnnSpec,
  weights: readonly tfc.Tensor[],
  x: tfc.Tensor4D,
): { logits: tfc.Tensor2D; stats: BatchStats[] } {
  let h: tfc.Tensor4D = x;
  const stats: BatchStats[] = [];
  convLayerNames(spec).forEach((_, layer) => {
    const [kernel, gamma, beta] = weights.slice(layer * 3, layer * 3 + 3) as [
      tfc.Tensor4D,
      tfc.Tensor1D,
      tfc.Tensor1D,
    ];
    const stride = layer % 2 === 0 ? 1 : 2;
    const z = tf.conv2d(h, kernel, stride, "same");
    const mean = tf.mean(z, [0, 1, 2], true);
    const centred = tf.sub(z, mean);
    const variance = tf.mean(tf.square(centred), [0, 1, 2], true);
    stats.push({
      mean: tf.reshape(mean, [-1]) as tfc.Tensor1D,
      variance: tf.reshape(variance, [-1]) as tfc.Tensor1D,
    });
    const normalised = tf.mul(centred, tf.rsqrt(tf.add(variance, BN_EPSILON)));
    h = tf.relu(tf.add(tf.mul(normalised, gamma), beta)) as tfc.Tensor4D;
  });
  const pooled = tf.mean(h, [1, 2]) as tfc.Tensor2D;
  const offset = convLayerNames(spec).length * 3;
  const [kernel, bias] = weights.slice(offset) as [tfc.Tensor2D, tfc.Tensor1D];
  return { logits: tf.add(tf.matMul(pooled, kernel), bias) as tfc.Tensor2D, stats };
}

/**
 * Mean softmax cross-entropy as logits − log Σ exp(logits): tfjs's LogSoftmax gradient reads its
 * saved output, which a second differentiation cannot see through (see second-order.ts). No
 * max-subtraction: the attacked models' logits are small, far from exp's overflow.
 */
export function crossEntropy(tf: Tf, logits: tfc.Tensor2D, oneHot: tfc.Tensor2D): tfc.Scalar {
  const logProbabilities = tf.sub(logits, tf.log(tf.sum(tf.exp(logits), 1, true)));
  return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, logProbabilities), 1))) as tfc.Scalar;
}

/** ∇θ of the batch's mean cross-entropy, one tensor per trainable tensor. Runs inside any tape. */
export function weightGradients(
  tf: Tf,
  params: CnnParams,
  x: tfc.Tensor4D,
  oneHot: tfc.Tensor2D,
): tfc.Tensor[] {
  const f = (...weights: tfc.Tensor[]) => crossEntropy(tf, cnnLogits(tf, params.spec, weights, x), oneHot);
  return tf.grads(f)([...params.tensors]);
}
