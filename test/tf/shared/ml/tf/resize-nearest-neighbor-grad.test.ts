import { beforeAll, describe, expect, it } from "vitest";
import {
  nearestSource,
  resizeNearestNeighborGradValues,
} from "../../../../../shared/src/ml/tf/cpu-kernels/resize-nearest-neighbor-grad.js";
import {
  randomValues,
  relativeError,
  setUpBackends,
  sizeOf,
  tf,
  valuesOn,
} from "../../../../helpers/tf-backends.js";

beforeAll(setUpBackends);

describe("ResizeNearestNeighborGrad (CPU backend fix)", () => {
  it("sums each 2x2 block for x2 up-sampling, image by image", () => {
    // dy for two 1-channel 2x2 outputs of 1x1 images: each image's gradient is its own sum.
    const dx = resizeNearestNeighborGradValues([1, 2, 3, 4, 10, 20, 30, 40], [2, 2, 2, 1], [2, 1, 1, 1], {
      alignCorners: false,
      halfPixelCenters: false,
    });
    expect(Array.from(dx)).toEqual([10, 100]);
  });

  it("maps output to input pixels as the forward op does", () => {
    expect([0, 1, 2, 3, 4, 5].map((o) => nearestSource(o, 3, 6, false, false))).toEqual([0, 0, 1, 1, 2, 2]);
    expect([0, 1, 2].map((o) => nearestSource(o, 5, 3, true, false))).toEqual([0, 2, 4]);
  });

  // <resize(x), dy> = <x, grad(dy)> for every x and dy: the gradient is the forward op's adjoint.
  it.each([
    [false, false],
    [true, false],
    [false, true],
  ])(
    "is the adjoint of the forward op on the CPU backend (alignCorners %s, halfPixelCenters %s)",
    async (alignCorners, halfPixelCenters) => {
      const inShape: [number, number, number, number] = [3, 4, 5, 2];
      const size: [number, number] = [7, 9];
      const [forward, backward] = await valuesOn("cpu", () => {
        const x = tf.tensor4d(randomValues(1, sizeOf(inShape)), inShape);
        const dy = tf.tensor4d(randomValues(2, 3 * 7 * 9 * 2), [3, 7, 9, 2]);
        const resize = (t: tf.Tensor) =>
          tf.image.resizeNearestNeighbor(t as tf.Tensor4D, size, alignCorners, halfPixelCenters);
        const [dx] = tf.grads(resize)([x], dy);
        return [tf.sum(tf.mul(resize(x), dy)), tf.sum(tf.mul(x, dx as tf.Tensor))];
      });
      expect(Math.abs((backward?.[0] as number) - (forward?.[0] as number))).toBeLessThan(1e-4);
    },
  );

  it("agrees with the wasm backend for layers' UpSampling2D", async () => {
    const compute = () => {
      const x = tf.tensor4d(randomValues(3, 2 * 3 * 3 * 4), [2, 3, 3, 4]);
      const dy = tf.tensor4d(randomValues(4, 2 * 6 * 6 * 4), [2, 6, 6, 4]);
      return tf.grads((t: tf.Tensor) => tf.image.resizeNearestNeighbor(t as tf.Tensor4D, [6, 6]))([x], dy);
    };
    const [expected] = await valuesOn("wasm", compute);
    const [actual] = await valuesOn("cpu", compute);
    expect(relativeError(actual as Float32Array, expected as Float32Array)).toBeLessThan(1e-6);
  });
});
