import { beforeAll, describe, expect, it } from "vitest";
import {
  axisPhases,
  mergeColumnPhases,
} from "../../../../../shared/src/ml/tf/wasm-kernels/conv2d-backprop-input.js";
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

interface ConvCase {
  readonly input: [number, number, number, number];
  readonly kernel: number;
  readonly outChannels: number;
  readonly stride: 1 | 2;
  readonly pad: "same" | "valid" | number;
}

// Odd and even sizes, non-square, batch 1 and > 1, 1 to 5 channels, every kernel size and stride.
const SHAPES: ReadonlyArray<{ input: [number, number, number, number]; outChannels: number }> = [
  { input: [1, 7, 9, 3], outChannels: 5 },
  { input: [2, 8, 6, 1], outChannels: 4 },
  { input: [3, 11, 10, 4], outChannels: 2 },
];
const CASES: ConvCase[] = [];
for (const kernel of [1, 3, 5, 7]) {
  for (const stride of [1, 2] as const) {
    for (const pad of ["same", "valid"] as const) {
      for (const { input, outChannels } of SHAPES) {
        if (pad === "valid" && (input[1] < kernel || input[2] < kernel)) continue;
        CASES.push({ input, kernel, outChannels, stride, pad });
      }
    }
  }
}
// Explicit padding wider than the filter's reach: phases would need cropping, so the input
// gradient takes the zero-insertion path.
CASES.push({ input: [2, 7, 8, 3], kernel: 3, outChannels: 2, stride: 2, pad: 4 });
CASES.push({ input: [1, 5, 6, 2], kernel: 1, outChannels: 3, stride: 1, pad: 2 });

/** dx and dW of sum(conv2d(x, w) * dy) for fixed random x, w, dy. */
function convGradients(c: ConvCase, seed: number): () => tf.Tensor[] {
  return () => {
    const filterShape: [number, number, number, number] = [c.kernel, c.kernel, c.input[3], c.outChannels];
    const x = tf.tensor4d(randomValues(seed, sizeOf(c.input)), c.input);
    const w = tf.tensor4d(randomValues(seed + 1, sizeOf(filterShape)), filterShape);
    const outShape = tf.conv2d(x, w, c.stride, c.pad).shape;
    const dy = tf.tensor(randomValues(seed + 2, sizeOf(outShape)), outShape);
    const convolve = (a: tf.Tensor, b: tf.Tensor) =>
      tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad);
    const [dx, dw] = tf.grads(convolve)([x, w], dy);
    return [dx as tf.Tensor, dw as tf.Tensor];
  };
}

describe("wasm Conv2DBackpropInput and Conv2DBackpropFilter", () => {
  it.each(
    CASES.map(
      (c, i) => [`${c.kernel}x${c.kernel} s${c.stride} ${c.pad} ${c.input.join("x")}`, c, i] as const,
    ),
  )("match the CPU backend: %s", async (_name, c, i) => {
    const expected = await valuesOn("cpu", convGradients(c, 100 + 3 * i));
    const actual = await valuesOn("wasm", convGradients(c, 100 + 3 * i));
    expect(relativeError(actual[0] as Float32Array, expected[0] as Float32Array)).toBeLessThan(1e-4);
    expect(relativeError(actual[1] as Float32Array, expected[1] as Float32Array)).toBeLessThan(1e-4);
  });

  it("covers every case the issue lists", () => {
    const covered = (predicate: (c: ConvCase) => boolean) => CASES.some(predicate);
    for (const kernel of [1, 3, 5, 7]) expect(covered((c) => c.kernel === kernel)).toBe(true);
    expect(covered((c) => typeof c.pad === "number" && c.pad >= c.kernel)).toBe(true);
    expect(covered((c) => c.stride === 2 && c.pad === "same" && c.input[1] % 2 === 1)).toBe(true);
    expect(covered((c) => c.stride === 2 && c.pad === "valid" && c.input[1] % 2 === 0)).toBe(true);
    expect(covered((c) => c.input[0] === 1)).toBe(true);
    expect(covered((c) => c.input[0] > 1)).toBe(true);
  });

  it("frees every intermediate buffer", async () => {
    await tf.setBackend("wasm");
    const c: ConvCase = { input: [2, 9, 8, 3], kernel: 3, outChannels: 4, stride: 2, pad: "same" };
    tf.dispose(tf.tidy(convGradients(c, 7)));
    const buffers = wasmBufferCount();
    const tensors = tf.memory().numTensors;
    tf.dispose(tf.tidy(convGradients(c, 7)));
    expect(tf.memory().numTensors).toBe(tensors);
    expect(wasmBufferCount()).toBe(buffers);
  });
});

describe("input-gradient phase plans", () => {
  it("splits a 3x3 stride-2 axis into its two phases", () => {
    // dx[2n] = dy[n] w[0] + dy[n-1] w[2]; dx[2n+1] = dy[n] w[1].
    expect(axisPhases(64, 32, 3, 2, 0)).toEqual([
      { offset: 0, taps: [2, 0], length: 32, padBefore: 1, padAfter: 0 },
      { offset: 1, taps: [1], length: 32, padBefore: 0, padAfter: 0 },
    ]);
  });

  it("leaves padding wider than the filter's reach to the fallback", () => {
    expect(axisPhases(7, 7, 3, 2, 4)).toBeUndefined();
  });

  it("merges the column phases into one window, zero where a phase has no tap", () => {
    const phases = axisPhases(64, 32, 3, 2, 0);
    expect(phases).toBeDefined();
    expect(mergeColumnPhases(phases ?? [], 64, 32, 3, 2)).toEqual({
      taps: [
        [2, -1],
        [0, 1],
      ],
      length: 32,
      padBefore: 1,
      padAfter: 0,
    });
    const odd = axisPhases(9, 5, 3, 2, 1);
    expect(mergeColumnPhases(odd ?? [], 9, 5, 3, 2)).toBeUndefined();
  });
});
