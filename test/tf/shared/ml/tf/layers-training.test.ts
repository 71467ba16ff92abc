import * as tfl from "@tensorflow/tfjs-layers";
import { beforeAll, describe, expect, it } from "vitest";
import {
  randomValues,
  relativeError,
  setUpBackends,
  sizeOf,
  tf,
  wasmBufferCount,
} from "../../../../helpers/tf-backends.js";

beforeAll(setUpBackends);

const INPUT: [number, number, number, number] = [3, 12, 12, 1];
const CLASSES = 3;

/**
 * A small model with what the project's models use: convolutions with stride 1 and 2, same and
 * valid padding, batch norm, ReLU, and a U-Net style decoder (transposed convolution,
 * up-sampling, concatenation), global average pooling and a softmax head.
 */
function buildModel(): tfl.LayersModel {
  const input = tfl.input({ shape: INPUT.slice(1) });
  const conv = (filters: number, kernelSize: number, strides: number, padding: "same" | "valid") =>
    tfl.layers.conv2d({ filters, kernelSize, strides, padding, useBias: false });
  const block = (x: tfl.SymbolicTensor, layer: tfl.layers.Layer) => {
    const y = layer.apply(x) as tfl.SymbolicTensor;
    const normed = tfl.layers.batchNormalization().apply(y) as tfl.SymbolicTensor;
    return tfl.layers.reLU().apply(normed) as tfl.SymbolicTensor;
  };
  const a = block(input, conv(4, 3, 1, "same"));
  const b = block(a, conv(8, 3, 2, "same"));
  const up = tfl.layers.conv2dTranspose({ filters: 4, kernelSize: 3, strides: 2, padding: "same" }).apply(b);
  const resized = tfl.layers.upSampling2d({ size: [2, 2] }).apply(b) as tfl.SymbolicTensor;
  const squeezed = conv(4, 1, 1, "same").apply(resized);
  const merged = tfl.layers
    .concatenate()
    .apply([a, up, squeezed] as tfl.SymbolicTensor[]) as tfl.SymbolicTensor;
  // No batch norm here: it would cancel the transposed convolution's bias (a per-channel constant
  // through a valid convolution), leaving that bias a zero gradient to compare.
  const c = tfl.layers.reLU().apply(conv(6, 3, 2, "valid").apply(merged)) as tfl.SymbolicTensor;
  const pooled = tfl.layers.globalAveragePooling2d({}).apply(c);
  const output = tfl.layers
    .dense({ units: CLASSES, activation: "softmax" })
    .apply(pooled) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: output });
}

function batch(): { x: tf.Tensor4D; y: tf.Tensor2D } {
  const x = tf.tensor4d(randomValues(41, sizeOf(INPUT)), INPUT);
  const labels = tf.tensor1d([0, 2, 1], "int32");
  const y = tf.cast(tf.oneHot(labels, CLASSES), "float32") as tf.Tensor2D;
  return { x, y };
}

function loss(model: tfl.LayersModel, x: tf.Tensor4D, y: tf.Tensor2D): tf.Scalar {
  const predicted = model.apply(x, { training: true }) as tf.Tensor;
  return tf.mean(tfl.metrics.categoricalCrossentropy(y, predicted)) as tf.Scalar;
}

/** The gradient of every trainable weight, in model order, for the given starting weights. */
async function gradientsOn(backend: "cpu" | "wasm", weights: Float32Array[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const model = buildModel();
  model.setWeights(model.getWeights().map((w, i) => tf.tensor(weights[i] as Float32Array, w.shape)));
  const { x, y } = batch();
  const { grads } = tf.variableGrads(() => loss(model, x, y));
  const values = model.trainableWeights.map((w) => {
    const grad = grads[(w.read() as tf.Variable).name];
    if (grad === undefined) throw new Error(`no gradient for ${w.name}`);
    return Float32Array.from(grad.dataSync());
  });
  tf.dispose([x, y, ...Object.values(grads)]);
  model.dispose();
  return values;
}

describe("training a layers model on wasm", () => {
  it("gives the CPU backend's gradients for every weight", async () => {
    await tf.setBackend("cpu");
    const reference = buildModel();
    // Random initial weights, the same on both backends.
    const weights = reference.getWeights().map((w) => Float32Array.from(w.dataSync()));
    reference.dispose();
    const expected = await gradientsOn("cpu", weights);
    const actual = await gradientsOn("wasm", weights);
    expect(actual).toHaveLength(expected.length);
    expect(expected.length).toBeGreaterThan(10);
    expected.forEach((grad, i) => {
      expect(relativeError(actual[i] as Float32Array, grad), `weight ${i}`).toBeLessThan(1e-4);
    });
  });

  it("leaks no tensor and no wasm buffer across an optimizer step", async () => {
    await tf.setBackend("wasm");
    const model = buildModel();
    const optimizer = tf.train.adam(1e-3);
    const { x, y } = batch();
    const step = () => tf.tidy(() => optimizer.minimize(() => loss(model, x, y)) ?? undefined);
    step(); // creates the optimizer's slots
    const tensors = tf.memory().numTensors;
    const buffers = wasmBufferCount();
    step();
    step();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(wasmBufferCount()).toBe(buffers);
    optimizer.dispose();
    model.dispose();
    tf.dispose([x, y]);
  });

  it("runs model.fit and lowers the loss", async () => {
    await tf.setBackend("wasm");
    const model = buildModel();
    model.compile({ optimizer: tf.train.adam(1e-2), loss: "categoricalCrossentropy" });
    const { x, y } = batch();
    const history = await model.fit(x, y, { epochs: 8, batchSize: 3, verbose: 0 });
    const losses = history.history.loss as number[];
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[losses.length - 1] as number).toBeLessThan(losses[0] as number);
    model.dispose();
    tf.dispose([x, y]);
  });
});
