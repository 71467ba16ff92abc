import type * as tfc from "@tensorflow/tfjs-core";
import type { LoadedBackend } from "../../shared/src/ml/tf/backend.js";
import { type CnnParams, cnnForward, weightGradients } from "./cnn.js";

type Tf = LoadedBackend["tf"];

/** buildSmallCnn's batch-norm momentum: a step moves each moving statistic 1 − 0.9 of the way. */
export const BN_MOMENTUM = 0.9;

/** Per-channel moving statistics of each batch-norm layer, as plain arrays. */
export interface MovingStats {
  readonly mean: Float32Array;
  readonly variance: Float32Array;
}

/**
 * What a hospital sends after one local SGD step on one batch (FedSGD, the setting of the attack):
 * the trainable tensors move by −η·∇θL and each batch-norm layer's moving mean and variance move
 * 1 − momentum of the way to the batch's statistics, as tfjs-layers' training step does. One
 * flat vector: the trainable tensors in CnnParams order, then per layer [mean, variance] deltas.
 */
export function oneStepUpdate(
  tf: Tf,
  params: CnnParams,
  moving: readonly MovingStats[],
  images: Float32Array,
  labels: readonly number[],
  learningRate: number,
): Float32Array {
  const size = params.spec.imageSize;
  return tf.tidy(() => {
    const x = tf.tensor4d(images, [labels.length, size, size, 1]);
    const oneHot = tf.oneHot(tf.tensor1d([...labels], "int32"), params.spec.numClasses) as tfc.Tensor2D;
    const grads = weightGradients(tf, params, x, oneHot).map((g) => g.dataSync() as Float32Array);
    const { stats } = cnnForward(tf, params.spec, params.tensors, x);
    const parts: Float32Array[] = grads.map((g) => g.map((v) => -learningRate * v));
    stats.forEach((layer, l) => {
      const old = moving[l] as MovingStats;
      const mean = layer.mean.dataSync() as Float32Array;
      const variance = layer.variance.dataSync() as Float32Array;
      parts.push(mean.map((v, c) => (1 - BN_MOMENTUM) * (v - (old.mean[c] as number))));
      parts.push(variance.map((v, c) => (1 - BN_MOMENTUM) * (v - (old.variance[c] as number))));
    });
    return concat(parts);
  });
}

/** What the attacker reads off an observed update (or a sum of `count` of them). */
export interface Observation {
  /** The descent direction per trainable tensor (−update; its scale does not matter). */
  readonly gradient: Float32Array[];
  /** Each batch-norm layer's batch statistics (for a sum: their mean over the `count` sites). */
  readonly stats: MovingStats[];
}

export function observe(
  params: CnnParams,
  moving: readonly MovingStats[],
  update: Float32Array,
  count: number,
): Observation {
  let offset = 0;
  const take = (length: number) => {
    const part = update.slice(offset, offset + length);
    offset += length;
    return part;
  };
  const gradient = params.tensors.map((t) => take(t.size).map((v) => -v));
  const stats = moving.map((old) => {
    const decode = (delta: Float32Array, base: Float32Array) =>
      delta.map((d, c) => (base[c] as number) + d / ((1 - BN_MOMENTUM) * count));
    const mean = decode(take(old.mean.length), old.mean);
    const variance = decode(take(old.variance.length), old.variance);
    return { mean, variance };
  });
  if (offset !== update.length) throw new Error(`update of ${update.length} values, layout of ${offset}`);
  return { gradient, stats };
}

/** Fresh batch-norm layers' moving statistics (tfjs-layers initialises mean 0, variance 1). */
export function initialMovingStats(params: CnnParams): MovingStats[] {
  return params.spec.widths
    .flatMap((width) => [0, 1].map(() => width))
    .map((width) => ({
      mean: new Float32Array(width),
      variance: new Float32Array(width).fill(1),
    }));
}

function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
