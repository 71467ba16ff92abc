import type { backend_util, TensorInfo } from "@tensorflow/tfjs-core";
import { runOriginalKernel } from "./original-kernels.js";
import { heapF32, release, type WasmBackend } from "./wasm-backend.js";

/**
 * Below this many filter taps times input channels (a first layer on grayscale images), dx is
 * better computed as the product dy · W^T (one well-shaped GEMM, pixels as rows) followed by
 * col2im: a convolution with 1-2 output channels runs XNNPACK at ~2 GFLOP/s.
 */
export const COL2IM_MAX_TAPS = 32;

/**
 * P = dy [pixels, out] · W^T [out, taps], then every P[pixel, (kh, kw, ci)] is added to the dx
 * pixel it came from. Layers' fused convolutions compute the first layer's dx even though
 * nothing needs it, so this path matters more than its share of FLOPs.
 */
export function col2imInputGrad(
  backend: WasmBackend,
  dy: TensorInfo,
  filter: TensorInfo,
  info: backend_util.Conv2DInfo,
): TensorInfo {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  const { filterHeight, filterWidth, strideHeight, strideWidth } = info;
  const taps = filterHeight * filterWidth * inChannels;
  const weights = backend.makeOutput([1, outChannels, taps], "float32");
  const w = heapF32(backend, filter);
  const wT = heapF32(backend, weights);
  for (let t = 0; t < taps; t++) {
    for (let o = 0; o < outChannels; o++) wT[o * taps + t] = w[t * outChannels + o] as number;
  }
  const pixels = batchSize * outHeight * outWidth;
  const columns = runOriginalKernel(
    backend,
    "BatchMatMul",
    { a: { dataId: dy.dataId, shape: [1, pixels, outChannels], dtype: "float32" }, b: weights },
    { transposeA: false, transposeB: false },
  );
  release(backend, weights);
  const dx = backend.makeOutput([batchSize, inHeight, inWidth, inChannels], "float32");
  const p = heapF32(backend, columns);
  const out = heapF32(backend, dx);
  out.fill(0);
  const { top, left } = info.padInfo;
  for (let kh = 0; kh < filterHeight; kh++) {
    for (let kw = 0; kw < filterWidth; kw++) {
      // Output columns whose tap (kh, kw) lands inside the input.
      const firstColumn = Math.max(0, Math.ceil((left - kw) / strideWidth));
      const endColumn = Math.min(outWidth, Math.floor((inWidth - 1 + left - kw) / strideWidth) + 1);
      const tapBase = (kh * filterWidth + kw) * inChannels;
      for (let b = 0; b < batchSize; b++) {
        for (let oh = 0; oh < outHeight; oh++) {
          const h = oh * strideHeight + kh - top;
          if (h < 0 || h >= inHeight) continue;
          const rowBase = (b * inHeight + h) * inWidth;
          const from = ((b * outHeight + oh) * outWidth + firstColumn) * taps + tapBase;
          const to = (rowBase + firstColumn * strideWidth + kw - left) * inChannels;
          addColumns(out, to, strideWidth * inChannels, p, from, taps, endColumn - firstColumn, inChannels);
        }
      }
    }
  }
  release(backend, columns);
  return dx;
}

/** out[to + i*toStep + c] += p[from + i*fromStep + c] for i < count, c < channels. */
function addColumns(
  out: Float32Array,
  to: number,
  toStep: number,
  p: Float32Array,
  from: number,
  fromStep: number,
  count: number,
  channels: number,
): void {
  if (channels === 1) {
    // One flat loop: V8 runs a short inner loop per element several times slower.
    for (let i = 0; i < count; i++, to += toStep, from += fromStep) {
      out[to] = (out[to] as number) + (p[from] as number);
    }
    return;
  }
  for (let i = 0; i < count; i++, to += toStep, from += fromStep) {
    for (let c = 0; c < channels; c++) out[to + c] = (out[to + c] as number) + (p[from + c] as number);
  }
}
