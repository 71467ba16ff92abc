import type { KernelConfig, KernelFunc, TensorInfo, TileAttrs } from "@tensorflow/tfjs-core";
import { asWasmBackend } from "./wasm-backend.js";

type Flat = Float32Array | Int32Array | Uint8Array;

/**
 * Tile by block copies: each axis, innermost first, is expanded by copying the already-built
 * block (`copyWithin`, i.e. memmove) instead of computing a source index per element as the
 * backend's C++ kernel does. Batch-norm gradients tile a [1,1,1,C] vector to the activation
 * shape, which the backend's kernel took ~100 ns/element for.
 */
export const tileWasm: KernelFunc = ({ inputs, backend: anyBackend, attrs }) => {
  const backend = asWasmBackend(anyBackend);
  const { x } = inputs as { x: TensorInfo };
  const { reps } = attrs as unknown as TileAttrs;
  const outShape = x.shape.map((size, axis) => size * (reps[axis] ?? 1));
  const out = backend.makeOutput(outShape, x.dtype);
  if (outShape.some((size) => size === 0)) return out;
  const src = backend.typedArrayFromHeap(x);
  const dst = backend.typedArrayFromHeap(out);
  tileInto(src, dst, x.shape, reps);
  return out;
};

/** Writes `src` (of `shape`) tiled `reps` times into `dst`. Exported for tests. */
export function tileInto(src: Flat, dst: Flat, shape: readonly number[], reps: readonly number[]): void {
  const rank = shape.length;
  if (rank === 0) {
    dst[0] = src[0] as number;
    return;
  }
  const inStrides = new Array<number>(rank);
  const outStrides = new Array<number>(rank);
  inStrides[rank - 1] = 1;
  outStrides[rank - 1] = 1;
  for (let axis = rank - 2; axis >= 0; axis--) {
    inStrides[axis] = (inStrides[axis + 1] as number) * (shape[axis + 1] as number);
    outStrides[axis] =
      (outStrides[axis + 1] as number) * (shape[axis + 1] as number) * (reps[axis + 1] as number);
  }
  const fillAxis = (axis: number, srcOffset: number, dstOffset: number): void => {
    const size = shape[axis] as number;
    const inStride = inStrides[axis] as number;
    const outStride = outStrides[axis] as number;
    if (axis === rank - 1) {
      dst.set(src.subarray(srcOffset, srcOffset + size), dstOffset);
    } else {
      for (let i = 0; i < size; i++) fillAxis(axis + 1, srcOffset + i * inStride, dstOffset + i * outStride);
    }
    // Doubling: log2(reps) copies, however small the block.
    const total = size * outStride * (reps[axis] as number);
    for (let filled = size * outStride; filled < total; ) {
      const length = Math.min(filled, total - filled);
      dst.copyWithin(dstOffset + filled, dstOffset, dstOffset + length);
      filled += length;
    }
  };
  fillAxis(0, 0, 0);
}

export const tileConfig: KernelConfig = {
  kernelName: "Tile",
  backendName: "wasm",
  kernelFunc: tileWasm,
};
