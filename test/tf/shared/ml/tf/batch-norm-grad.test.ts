import { beforeAll, describe, expect, it } from "vitest";
import { BATCH_NORM_GRAD_SUMS } from "../../../../../shared/src/ml/tf/wasm-kernels/batch-norm-grad-sums.js";
import {
  randomValues,
  relativeError,
  setUpBackends,
  sizeOf,
  tf,
  valuesOn,
  wasmBufferCount,
} from "../../../../helpers/tf-backends.js";

beforeAll(setUpBackends);

function tensorOf(seed: number, shape: number[], scale = 1, shift = 0): tf.Tensor {
  return tf.tensor(
    randomValues(seed, sizeOf(shape)).map((v) => v * scale + shift),
    shape,
  );
}

// Small (the JavaScript pass) and large (the XNNPACK passes) tensors, few and many channels.
const SHAPES: number[][] = [
  [2, 3, 5, 4],
  [4, 16, 16, 8],
  [3, 9, 7, 70],
];

describe("FlBatchNormGradSums on wasm", () => {
  it.each(SHAPES.map((shape) => [JSON.stringify(shape), shape] as const))(
    "sums dy and dy * (x - mean) per channel: %s",
    async (_name, shape) => {
      const channels = shape[shape.length - 1] as number;
      const xs = randomValues(11, sizeOf(shape)).map((v) => 3 * v + 2);
      const dys = randomValues(12, sizeOf(shape));
      const means = randomValues(13, channels).map((v) => v + 2);
      const expected = new Float64Array(2 * channels);
      for (let i = 0; i < xs.length; i++) {
        const c = i % channels;
        expected[c] = (expected[c] as number) + (dys[i] as number);
        expected[channels + c] =
          (expected[channels + c] as number) +
          (dys[i] as number) * ((xs[i] as number) - (means[c] as number));
      }
      const [actual] = await valuesOn(
        "wasm",
        () =>
          tf.engine().runKernel(BATCH_NORM_GRAD_SUMS, {
            x: tf.tensor(xs, shape),
            dy: tf.tensor(dys, shape),
            mean: tf.tensor1d(means),
          }) as tf.Tensor,
      );
      expect(relativeError(actual as Float32Array, expected)).toBeLessThan(1e-5);
    },
  );

  it("says what was wrong with its inputs", async () => {
    await tf.setBackend("wasm");
    expect(() =>
      tf.tidy(() =>
        tf.engine().runKernel(BATCH_NORM_GRAD_SUMS, {
          x: tf.zeros([2, 3]),
          dy: tf.zeros([2, 3]),
          mean: tf.zeros([4]),
        }),
      ),
    ).toThrow(/mean's channels, got x \[2,3\], dy \[2,3\], mean \[4\]/);
  });
});

/**
 * Gradients of sum(batchNorm(x, ...) * dy) with respect to all five inputs. (Without a scale,
 * tfjs itself cannot take batchNorm's gradient: it saves the missing input for the backward pass.)
 */
function batchNormGradients(shape: number[], seed: number): () => tf.Tensor[] {
  return () => {
    const channels = shape[shape.length - 1] as number;
    const x = tensorOf(seed, shape, 3, 0.5);
    const mean = tensorOf(seed + 1, [channels]);
    const variance = tf.add(tf.abs(tensorOf(seed + 2, [channels])), 0.1);
    const offset = tensorOf(seed + 3, [channels]);
    const scale = tensorOf(seed + 4, [channels]);
    const dy = tensorOf(seed + 5, shape);
    return tf.grads((a: tf.Tensor, m: tf.Tensor, v: tf.Tensor, o: tf.Tensor, s: tf.Tensor) =>
      tf.batchNorm(a, m, v, o, s, 1e-3),
    )([x, mean, variance, offset, scale], dy);
  };
}

/** Gradients through training-mode batch norm as tfjs-layers builds it: moments of x, then batchNorm. */
function trainingModeGradients(shape: number[], seed: number): () => tf.Tensor[] {
  return () => {
    const channels = shape[shape.length - 1] as number;
    const x = tensorOf(seed, shape, 2, 1);
    const gamma = tensorOf(seed + 1, [channels], 0.5, 1);
    const beta = tensorOf(seed + 2, [channels]);
    const dy = tensorOf(seed + 3, shape);
    const axes = shape.slice(0, -1).map((_, i) => i);
    return tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = tf.moments(a, axes);
      return tf.batchNorm(a, mean, variance, b, g, 1e-3);
    })([x, gamma, beta], dy);
  };
}

describe("FusedBatchNorm gradient override", () => {
  it.each(SHAPES.map((shape) => [JSON.stringify(shape), shape] as const))(
    // The CPU backend has no sums kernel: there the override runs tfjs's own formula.
    "matches tfjs's gradient on the CPU backend: %s",
    async (_name, shape) => {
      const expected = await valuesOn("cpu", batchNormGradients(shape, 40));
      const actual = await valuesOn("wasm", batchNormGradients(shape, 40));
      expect(actual).toHaveLength(5);
      expected.forEach((values, i) => {
        expect(relativeError(actual[i] as Float32Array, values)).toBeLessThan(1e-5);
      });
    },
  );

  it.each(SHAPES.map((shape) => [JSON.stringify(shape), shape] as const))(
    "matches the CPU backend through training-mode moments: %s",
    async (_name, shape) => {
      const expected = await valuesOn("cpu", trainingModeGradients(shape, 60));
      const actual = await valuesOn("wasm", trainingModeGradients(shape, 60));
      // dx sums three paths that nearly cancel (its sum over the batch is 0), hence 1e-4.
      expected.forEach((values, i) => {
        expect(relativeError(actual[i] as Float32Array, values)).toBeLessThan(1e-4);
      });
    },
  );

  it("frees every intermediate buffer", async () => {
    await tf.setBackend("wasm");
    const compute = trainingModeGradients([4, 16, 16, 8], 80);
    tf.dispose(tf.tidy(compute));
    const buffers = wasmBufferCount();
    const tensors = tf.memory().numTensors;
    tf.dispose(tf.tidy(compute));
    expect(tf.memory().numTensors).toBe(tensors);
    expect(wasmBufferCount()).toBe(buffers);
  });
});
