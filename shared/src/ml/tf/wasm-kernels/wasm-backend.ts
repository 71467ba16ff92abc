import type { DataType, KernelBackend, TensorInfo } from "@tensorflow/tfjs-core";

/**
 * The part of tfjs-backend-wasm's `BackendWasm` that our kernels use. The package's own type
 * hides `cwrap` behind Emscripten's module type, so we name what we rely on here, once.
 */
export interface WasmBackend {
  readonly dataIdMap: { get(dataId: object): { id: number; memoryOffset: number } | undefined };
  readonly wasm: {
    cwrap(name: string, returnType: null, argTypes: string[]): (...args: unknown[]) => void;
    readonly HEAPF32: Float32Array;
  };
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: object, force?: boolean): boolean;
}

export function asWasmBackend(backend: KernelBackend | object): WasmBackend {
  return backend as unknown as WasmBackend;
}

/** The id the C++ side knows a tensor by. */
export function tensorId(backend: WasmBackend, info: TensorInfo): number {
  const data = backend.dataIdMap.get(info.dataId);
  if (data === undefined) throw new Error("tensor is not on the wasm backend");
  return data.id;
}

/**
 * A Float32Array view of a tensor on the wasm heap. Any allocation may grow (and detach) the
 * heap, so take views only after the last `makeOutput` of a step and never keep them.
 */
export function heapF32(backend: WasmBackend, info: TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(info) as Float32Array;
}

/** Index of a float32 tensor's first element in the whole-heap view `backend.wasm.HEAPF32`. */
export function heapIndex(backend: WasmBackend, info: TensorInfo): number {
  const data = backend.dataIdMap.get(info.dataId);
  if (data === undefined) throw new Error("tensor is not on the wasm backend");
  return data.memoryOffset / Float32Array.BYTES_PER_ELEMENT;
}

/** Frees intermediate results created inside a kernel. */
export function release(backend: WasmBackend, ...infos: TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

/** Explicit geometry of a forward convolution, in the terms XNNPACK takes. */
export interface ConvGeometry {
  readonly padTop: number;
  readonly padBottom: number;
  readonly padLeft: number;
  readonly padRight: number;
  readonly strideHeight: number;
  readonly strideWidth: number;
  readonly dilationHeight: number;
  readonly dilationWidth: number;
}

type RawConv2d = (...args: number[]) => void;
const rawConv2dByBackend = new WeakMap<WasmBackend, RawConv2d>();

/**
 * The backend's forward convolution (XNNPACK) with explicit, possibly asymmetric padding, which
 * the tfjs op interface cannot express. x is NHWC, filter is [fh, fw, inChannels, outChannels].
 */
export function conv2dRaw(
  backend: WasmBackend,
  x: TensorInfo,
  filter: TensorInfo,
  geometry: ConvGeometry,
): TensorInfo {
  let run = rawConv2dByBackend.get(backend);
  if (run === undefined) {
    run = backend.wasm.cwrap("Conv2D", null, new Array<string>(19).fill("number")) as RawConv2d;
    rawConv2dByBackend.set(backend, run);
  }
  const [batch, height, width, inChannels] = x.shape as [number, number, number, number];
  const [filterHeight, filterWidth, filterIn, outChannels] = filter.shape as [number, number, number, number];
  if (filterIn !== inChannels) {
    throw new Error(`conv2dRaw: filter has ${filterIn} input channels, x has ${inChannels}`);
  }
  const g = geometry;
  const outHeight = convOutSize(
    height,
    filterHeight,
    g.padTop + g.padBottom,
    g.strideHeight,
    g.dilationHeight,
  );
  const outWidth = convOutSize(width, filterWidth, g.padLeft + g.padRight, g.strideWidth, g.dilationWidth);
  const out = backend.makeOutput([batch, outHeight, outWidth, outChannels], "float32");
  run(
    tensorId(backend, x),
    batch,
    height,
    width,
    tensorId(backend, filter),
    filterHeight,
    filterWidth,
    g.padTop,
    g.padRight,
    g.padBottom,
    g.padLeft,
    0,
    g.dilationHeight,
    g.dilationWidth,
    g.strideHeight,
    g.strideWidth,
    inChannels,
    outChannels,
    tensorId(backend, out),
  );
  return out;
}

export function convOutSize(
  size: number,
  kernel: number,
  padTotal: number,
  stride: number,
  dilation: number,
) {
  return Math.floor((size + padTotal - ((kernel - 1) * dilation + 1)) / stride) + 1;
}
