import {
  type FusedBatchNormAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
  util,
} from "@tensorflow/tfjs-core";
import { runOriginalKernel } from "./original-kernels.js";
import { scaleShiftChannels } from "./per-channel.js";
import { asWasmBackend, heapF32 } from "./wasm-backend.js";

/**
 * Batch-norm forward as out = x * a[c] + b[c], with a = scale / sqrt(variance + epsilon) and
 * b = offset - mean * a computed per channel in float64, run as one 1x1 depthwise convolution
 * (~0.3-0.7 ns an element; the backend's kernel took ~6). Parameters that are not per-channel
 * vectors or scalars go to the backend's kernel.
 */
export const fusedBatchNormWasm: KernelFunc = ({ inputs, backend: anyBackend, attrs }) => {
  const backend = asWasmBackend(anyBackend);
  const { x, mean, variance, offset, scale } = inputs as Partial<Record<string, TensorInfo>> & {
    x: TensorInfo;
    mean: TensorInfo;
    variance: TensorInfo;
  };
  const { varianceEpsilon } = attrs as unknown as FusedBatchNormAttrs;
  const channels = x.shape[x.shape.length - 1] ?? 1;
  const parameters = [mean, variance, offset, scale];
  const supported = parameters.every((t) => {
    if (t === undefined || t === null) return true;
    const size = util.sizeFromShape(t.shape);
    return t.dtype === "float32" && (size === channels || size === 1);
  });
  if (x.dtype !== "float32" || !supported || util.sizeFromShape(x.shape) === 0) {
    return runOriginalKernel(backend, "FusedBatchNorm", inputs as Record<string, TensorInfo>, attrs);
  }
  const [meanAt, varianceAt, offsetAt, scaleAt] = parameters.map((t, i) => {
    if (t === undefined || t === null) return () => (i === 1 || i === 3 ? 1 : 0);
    const values = Float64Array.from(heapF32(backend, t));
    return values.length === 1 ? () => values[0] as number : (c: number) => values[c] as number;
  }) as [(c: number) => number, (c: number) => number, (c: number) => number, (c: number) => number];
  const a = new Float64Array(channels);
  const b = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    a[c] = scaleAt(c) / Math.sqrt(varianceAt(c) + varianceEpsilon);
    b[c] = offsetAt(c) - meanAt(c) * (a[c] as number);
  }
  return scaleShiftChannels(backend, x, a, b);
};

export const fusedBatchNormConfig: KernelConfig = {
  kernelName: "FusedBatchNorm",
  backendName: "wasm",
  kernelFunc: fusedBatchNormWasm,
};
