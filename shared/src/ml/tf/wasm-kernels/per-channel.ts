import type { TensorInfo } from "@tensorflow/tfjs-core";
import { runOriginalKernel } from "./original-kernels.js";
import { heapF32, release, type WasmBackend } from "./wasm-backend.js";

/**
 * out[..., c] = x[..., c] * scale[c] + shift[c] as XNNPACK's 1x1 depthwise convolution with a
 * bias: one SIMD pass. The backend's broadcasting binary ops index per element (1.4-2.2 ns an
 * element at 16 channels) and its FusedBatchNorm takes ~6 ns; this takes ~0.3-0.7.
 * `x` is any float32 tensor whose last axis has `scale.length` channels; `shift` is optional.
 */
export function scaleShiftChannels(
  backend: WasmBackend,
  x: TensorInfo,
  scale: ArrayLike<number>,
  shift?: ArrayLike<number>,
): TensorInfo {
  const channels = scale.length;
  const filter = backend.makeOutput([1, 1, channels, 1], "float32");
  const bias = shift === undefined ? undefined : backend.makeOutput([channels], "float32");
  heapF32(backend, filter).set(scale);
  if (bias !== undefined && shift !== undefined) heapF32(backend, bias).set(shift);
  const rows = x.shape.reduce((a, b) => a * b, 1) / channels;
  const asImage: TensorInfo = { dataId: x.dataId, shape: [1, 1, rows, channels], dtype: x.dtype };
  const inputs: Record<string, TensorInfo> =
    bias === undefined ? { x: asImage, filter } : { x: asImage, filter, bias };
  const out = runOriginalKernel(backend, "FusedDepthwiseConv2D", inputs, {
    strides: [1, 1],
    pad: "valid",
    dataFormat: "NHWC",
    dilations: [1, 1],
    activation: "linear",
  });
  release(backend, filter);
  if (bias !== undefined) release(backend, bias);
  out.shape = [...x.shape];
  return out;
}

/**
 * Whether `vector` broadcasts along the last axis of `full`: its size is full's last dimension
 * (more than 1) and all its other dimensions are 1, e.g. [C] or [1,1,1,C] against [B,H,W,C].
 */
export function isChannelVector(vector: readonly number[], full: readonly number[]): boolean {
  const channels = full[full.length - 1];
  if (channels === undefined || channels < 2 || vector.length > full.length) return false;
  if (vector[vector.length - 1] !== channels) return false;
  return vector.slice(0, -1).every((size) => size === 1);
}

/** Runs a binary kernel of the backend, for the cases the per-channel path does not cover. */
export function originalBinary(backend: WasmBackend, op: string, a: TensorInfo, b: TensorInfo): TensorInfo {
  return runOriginalKernel(backend, op, { a, b });
}
