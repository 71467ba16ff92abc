import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import type { ModelSpec, UnetMultitaskSpec } from "../../../shared/src/fl/model-spec.js";
import { eagerRunner } from "../../../shared/src/ml/model/flow.js";
import {
  buildMultitaskNetwork,
  buildSmallCnn,
  manifestOf,
  readWeights,
  writeWeights,
} from "../../../shared/src/ml/model/index.js";
import type { ModelWeights } from "../../../shared/src/weights/types.js";

/** One layer of the cascade: the weights re-initialised together (a convolution and its batch norm). */
export interface CascadeLayer {
  readonly layer: string;
  readonly weights: readonly string[];
}

/**
 * A trained classifier opened up for analysis: class logits, the penultimate features (the
 * globally pooled encoder output) and Grad-CAM maps. Every method creates tensors: call it in
 * tf.tidy or dispose what it returns. Batch norm always runs in inference mode.
 */
export interface Explainer {
  readonly architecture: ModelSpec["architecture"];
  readonly imageSize: number;
  /** The layer whose activations Grad-CAM weighs (the last convolutional block). */
  readonly camLayer: string;
  /** The last decoder block, for the segmentation map of multi-task models. */
  readonly decoderLayer?: string;
  /** The layers model holding the weights (read and written by the sanity check). */
  readonly model: tfl.LayersModel;
  /** Layers on the classification path, from the output backwards. */
  readonly cascade: readonly CascadeLayer[];
  logits(x: tf.Tensor4D): tf.Tensor2D;
  features(x: tf.Tensor4D): tf.Tensor2D;
  /** [n, size, size]: Grad-CAM of class `classes[i]` for image i, upsampled to the image. */
  classCam(x: tf.Tensor4D, classes: readonly number[]): tf.Tensor3D;
  /** [n, size, size]: Grad-CAM of the summed mask logit at the last decoder block. */
  decoderCam?(x: tf.Tensor4D): tf.Tensor3D;
  /** Weights of the same architecture freshly initialised from another seed. */
  randomWeights(seed: number): ModelWeights;
  dispose(): void;
}

/**
 * Grad-CAM (Selvaraju et al. 2017): the gradient of the score w.r.t. the activations A, averaged
 * over positions, weighs A's channels; the ReLU of the weighted sum is the map. With global
 * average pooling and a linear head this equals CAM, as it should.
 */
export function gradCam(
  activations: tf.Tensor4D,
  score: (a: tf.Tensor4D) => tf.Tensor,
  size: number,
): tf.Tensor3D {
  return tf.tidy(() => {
    const gradient = tf.grad((a: tf.Tensor) => tf.sum(score(a as tf.Tensor4D)))(activations);
    const alpha = tf.mean(gradient, [1, 2], true);
    const cam = tf.relu(tf.sum(tf.mul(activations, alpha), -1, true)) as tf.Tensor4D;
    const [, height, width] = activations.shape;
    const upsampled = height === size && width === size ? cam : tf.image.resizeBilinear(cam, [size, size]);
    return tf.squeeze(upsampled, [3]) as tf.Tensor3D;
  });
}

/** Class scores (logits) of the chosen class per image, summed over the batch by gradCam. */
function chosen(logits: tf.Tensor2D, classes: readonly number[]): tf.Tensor {
  const oneHot = tf.oneHot(tf.tensor1d([...classes], "int32"), logits.shape[1]);
  return tf.mul(logits, oneHot);
}

/** Groups weight names into layers (a batch norm joins its convolution), output layer first. */
export function cascadeOrder(
  names: readonly string[],
  include: (name: string) => boolean = () => true,
): CascadeLayer[] {
  const groups = new Map<string, string[]>();
  for (const name of names) {
    if (!include(name)) continue;
    const layer = (name.split("/")[0] as string).replace(/\.bn$/, "");
    const list = groups.get(layer);
    if (list) list.push(name);
    else groups.set(layer, [name]);
  }
  return [...groups.entries()].reverse().map(([layer, weights]) => ({ layer, weights }));
}

export function buildExplainer(spec: ModelSpec, weights: ModelWeights): Explainer {
  const explainer =
    spec.architecture === "small-cnn" ? smallCnnExplainer(spec, buildSmallCnn) : unetExplainer(spec);
  try {
    writeWeights(explainer.model, weights);
  } catch (error) {
    explainer.dispose();
    throw new FlError(
      ErrorCode.WeightsShapeMismatch,
      `the run's model does not fit its spec (${spec.architecture}${spec.architecture === "unet-multitask" ? `, multitask phase` : ""}): ${(error as Error).message}. ` +
        "Only a classification model (small-cnn, or unet-multitask after its multitask phase) can be analysed",
      { cause: error },
    );
  }
  return explainer;
}

function smallCnnExplainer(
  spec: Extract<ModelSpec, { architecture: "small-cnn" }>,
  build: typeof buildSmallCnn,
): Explainer {
  const model = build(spec);
  const camLayer = `stage${spec.widths.length}.conv2.relu`;
  const trunk = tfl.model({
    inputs: model.inputs,
    outputs: model.getLayer(camLayer).output as tfl.SymbolicTensor,
  });
  const pool = model.getLayer("pool");
  const dense = model.getLayer("head.logits");
  const head = (a: tf.Tensor4D): tf.Tensor2D => dense.apply(pool.apply(a)) as tf.Tensor2D;
  return {
    architecture: "small-cnn",
    imageSize: spec.imageSize,
    camLayer,
    model,
    cascade: cascadeOrder(model.weights.map((w) => w.originalName)),
    logits: (x) => model.predict(x) as tf.Tensor2D,
    features: (x) => tf.tidy(() => pool.apply(trunk.predict(x) as tf.Tensor4D) as tf.Tensor2D),
    classCam: (x, classes) =>
      tf.tidy(() =>
        gradCam(trunk.predict(x) as tf.Tensor4D, (a) => chosen(head(a), classes), spec.imageSize),
      ),
    randomWeights(seed) {
      const fresh = build({ ...spec, seed });
      try {
        return readWeights(fresh, manifestOf(fresh));
      } finally {
        fresh.dispose();
      }
    },
    dispose: () => model.dispose(),
  };
}

function unetExplainer(spec: UnetMultitaskSpec): Explainer {
  const multitask: UnetMultitaskSpec = { ...spec, phase: "multitask" };
  const network = buildMultitaskNetwork(multitask);
  const { layers, model } = network;
  const run = eagerRunner(false);
  const names = model.layers.map((layer) => layer.name);
  const last = (prefix: string): string =>
    [...names].reverse().find((name) => name.startsWith(prefix) && name.endsWith(".relu")) ?? prefix;
  return {
    architecture: "unet-multitask",
    imageSize: spec.imageSize,
    camLayer: last("enc."),
    decoderLayer: last("dec.up"),
    model,
    cascade: cascadeOrder(
      model.weights.map((w) => w.originalName),
      (name) => name.startsWith("enc.") || name.startsWith("cls."),
    ),
    logits: (x) => tf.tidy(() => network.classify(x, { training: false })),
    features: (x) =>
      tf.tidy(() => tf.mean(layers.encoder.forward<tf.Tensor>(x, run).bottleneck, [1, 2]) as tf.Tensor2D),
    classCam: (x, classes) =>
      tf.tidy(() => {
        const bottleneck = layers.encoder.forward<tf.Tensor>(x, run).bottleneck as tf.Tensor4D;
        return gradCam(
          bottleneck,
          (a) => chosen(layers.classifier.forward<tf.Tensor>(a, run) as tf.Tensor2D, classes),
          spec.imageSize,
        );
      }),
    decoderCam: (x) =>
      tf.tidy(() => {
        const decoded = layers.decoder.forward<tf.Tensor>(
          layers.encoder.forward<tf.Tensor>(x, run),
          run,
        ) as tf.Tensor4D;
        return gradCam(decoded, (d) => layers.mask.forward<tf.Tensor>(d, run), spec.imageSize);
      }),
    randomWeights(seed) {
      const fresh = buildMultitaskNetwork({ ...multitask, seed });
      try {
        return readWeights(fresh.model, manifestOf(fresh.model));
      } finally {
        fresh.dispose();
      }
    },
    dispose: () => network.dispose(),
  };
}
