import { type KernelConfig, type KernelFunc, type TensorInfo, util } from "@tensorflow/tfjs-core";
import { runOriginalKernel } from "./original-kernels.js";
import { scaleShiftChannels } from "./per-channel.js";
import { meanOverMiddleAxis } from "./reduce.js";
import { asWasmBackend, heapF32, release, type WasmBackend } from "./wasm-backend.js";

/** Below this many elements, one JavaScript pass costs less than four operator calls. */
const MIN_POOLED_ELEMENTS = 16_384;

/** This project's kernel name: the per-channel sums a batch-norm gradient needs. */
export const BATCH_NORM_GRAD_SUMS = "FlBatchNormGradSums";

/**
 * out[0, c] = sum of dy[..., c], out[1, c] = sum of dy[..., c] * (x[..., c] - mean[c]). x and dy are float32 of one shape whose last axis has the C channels of `mean` ([C]).
 * tfjs's batch-norm gradient builds these with ~10 full-size broadcast ops, some on the backend's
 * slow broadcasting loop. Defined for wasm only; the gradient falls back to tfjs's own formula elsewhere.
 */
export const batchNormGradSumsWasm: KernelFunc = ({ inputs, backend: anyBackend }) => {
  const backend = asWasmBackend(anyBackend);
  const { x, dy, mean } = inputs as { x: TensorInfo; dy: TensorInfo; mean: TensorInfo };
  const channels = mean.shape[0] ?? 0;
  if (
    mean.shape.length !== 1 ||
    x.shape[x.shape.length - 1] !== channels ||
    !util.arraysEqual(x.shape, dy.shape) ||
    [x, dy, mean].some((t) => t.dtype !== "float32")
  ) {
    throw new Error(
      `${BATCH_NORM_GRAD_SUMS}: needs float32 x and dy of one shape ending in mean's channels, got x ${JSON.stringify(x.shape)}, dy ${JSON.stringify(dy.shape)}, mean ${JSON.stringify(mean.shape)}`,
    );
  }
  const rows = util.sizeFromShape(x.shape) / channels;
  if (rows * channels < MIN_POOLED_ELEMENTS) return sumsInJs(backend, x, dy, mean, channels);
  // (x - mean) then dy * (x - mean) on XNNPACK, both sums as average pooling: ~4 passes.
  const centre = Float32Array.from(heapF32(backend, mean), (m) => -m);
  const centred = scaleShiftChannels(backend, x, new Float32Array(channels).fill(1), centre);
  const product = runOriginalKernel(backend, "Multiply", { a: dy, b: centred });
  const layout = { outer: 1, reduced: rows, inner: channels, outShape: [channels] };
  const meanDy = meanOverMiddleAxis(backend, dy, layout);
  const meanProduct = meanOverMiddleAxis(backend, product, layout);
  const out = backend.makeOutput([2, channels], "float32");
  const values = heapF32(backend, out);
  values.set(heapF32(backend, meanDy).map((v) => v * rows));
  values.set(
    heapF32(backend, meanProduct).map((v) => v * rows),
    channels,
  );
  release(backend, centred, product, meanDy, meanProduct);
  return out;
};

/** Small tensors: one JavaScript pass, summed in float64. */
function sumsInJs(
  backend: WasmBackend,
  x: TensorInfo,
  dy: TensorInfo,
  mean: TensorInfo,
  channels: number,
): TensorInfo {
  const out = backend.makeOutput([2, channels], "float32");
  const [xs, dys, means, values] = [x, dy, mean, out].map((t) => heapF32(backend, t)) as [
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
  ];
  const sumDy = new Float64Array(channels);
  const sumDyX = new Float64Array(channels);
  for (let at = 0; at < xs.length; at += channels) {
    for (let c = 0; c < channels; c++) {
      const d = dys[at + c] as number;
      sumDy[c] = (sumDy[c] as number) + d;
      sumDyX[c] = (sumDyX[c] as number) + d * ((xs[at + c] as number) - (means[c] as number));
    }
  }
  values.set(sumDy);
  values.set(sumDyX, channels);
  return out;
}

export const batchNormGradSumsConfig: KernelConfig = {
  kernelName: BATCH_NORM_GRAD_SUMS,
  backendName: "wasm",
  kernelFunc: batchNormGradSumsWasm,
};
