import {
  backend_util,
  div,
  type GradConfig,
  getGradient,
  type MeanAttrs,
  registerGradient,
  reshape,
  type Tensor,
  tile,
  unregisterGradient,
  util,
} from "@tensorflow/tfjs-core";
import { registerBatchNormGradient } from "./batch-norm-grad.js";

/**
 * Mean's gradient as tfjs defines it, dy broadcast back over the reduced axes and divided by
 * their size, but broadcast with Tile instead of multiplying by `ones(x.shape)`. The two are
 * bit-identical (y * 1 = y), but `ones` fills a JavaScript array element by element and copies
 * it to the backend: batch norm takes two means per layer, and that was ~25 ms of a 64x64
 * training step on wasm (~100 ms at 128x128). Tile is a memmove on wasm and native elsewhere.
 */
export const meanGradConfig: GradConfig = {
  kernelName: "Mean",
  inputsToSave: ["x"],
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved as [Tensor];
    const { axis } = attrs as unknown as MeanAttrs;
    const axes = util.parseAxisParam(axis, x.shape);
    const [, reduceShape] = backend_util.computeOutAndReduceShapes(x.shape, axes);
    const reduceSize = util.sizeFromShape(reduceShape);
    return {
      x: () => {
        const expandedShape = x.shape.map((size, i) => (axes.includes(i) ? 1 : size));
        const reps = x.shape.map((size, i) => (axes.includes(i) ? size : 1));
        // Dividing before tiling gives the same quotients (each is dy[j] / n) from one small
        // division instead of a full-size one.
        return tile(reshape(div(dy as Tensor, reduceSize), expandedShape), reps);
      },
    };
  },
};

let registered = false;

/**
 * Replaces gradients whose tfjs definitions are slow: Mean's everywhere, bit-identical; batch
 * norm's on backends with its sums kernel (see batch-norm-grad.ts). Gradients are global (not
 * per backend). Idempotent.
 */
export function registerGradientOverrides(): void {
  if (registered) return;
  if (getGradient("Mean") !== undefined) unregisterGradient("Mean");
  registerGradient(meanGradConfig);
  registerBatchNormGradient();
  registered = true;
}
