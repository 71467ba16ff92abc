import {
  backend_util,
  type Conv2DBackpropFilterAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from "@tensorflow/tfjs-core";
import { runOriginalKernel } from "./original-kernels.js";
import { asWasmBackend, heapF32, heapIndex, release } from "./wasm-backend.js";

/**
 * dW[kh, kw, ci, co] = sum over k = (b, oh, ow) of x[b, s*oh + kh - pad, s*ow + kw - pad, ci] * dy[k, co],
 * a matrix product A · dy with A = [fh*fw*ci, k]: one GEMM that the backend runs on XNNPACK
 * (its fully-connected operator), whose output is dW in its final layout.
 *
 * A is built without a per-element im2col: x is split into stride x stride phase planes, one per
 * input channel, laid out on dy's grid widened by the filter reach, so that every row of A is one
 * contiguous slice of a plane (a memmove). Grid cells outside dy are paired with zero rows of the
 * widened dy and add nothing. A forward convolution with dy as the filter (dilation = stride)
 * computes the same sum, but XNNPACK repacks a filter that large at ~16 ns an element, which
 * cost more than the product itself; the fully-connected operator packs its weights 4-6x faster.
 */
export const conv2dBackpropFilterWasm: KernelFunc = ({ inputs, backend: anyBackend, attrs }) => {
  const backend = asWasmBackend(anyBackend);
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } =
    attrs as unknown as Conv2DBackpropFilterAttrs;
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    backend_util.convertConv2DDataFormat(dataFormat),
  );
  if (info.dataFormat !== "channelsLast") {
    throw new Error("wasm Conv2DBackpropFilter supports NHWC only");
  }
  const g = filterGradGeometry(info);
  const { outHeight, outWidth, outChannels } = info;
  const rows = info.filterHeight * info.filterWidth * info.inChannels;

  const planes = backend.makeOutput([g.phasesY * g.phasesX * info.inChannels * g.planeStride], "float32");
  fillPhasePlanes(heapF32(backend, x), heapF32(backend, planes), info, g);
  let total: TensorInfo | undefined;
  for (let first = 0; first < info.batchSize; first += g.imagesPerChunk) {
    const images = Math.min(g.imagesPerChunk, info.batchSize - first);
    const columns = images * g.columnsPerImage;
    const a = backend.makeOutput([1, rows, columns], "float32");
    const b = backend.makeOutput([1, columns, outChannels], "float32");
    // Views only after the last allocation: an allocation may grow (and detach) the heap.
    const heap = backend.wasm.HEAPF32;
    fillRows(heap, heapIndex(backend, planes), heapIndex(backend, a), info, g, first, images);
    widenRows(heap, heapIndex(backend, dy), heapIndex(backend, b), {
      first,
      images,
      height: outHeight,
      width: outWidth,
      channels: outChannels,
      gridWidth: g.gridWidth,
    });
    const part = runOriginalKernel(
      backend,
      "BatchMatMul",
      { a, b },
      { transposeA: false, transposeB: false },
    );
    release(backend, a, b);
    if (total === undefined) {
      total = part;
    } else {
      const sum = runOriginalKernel(backend, "Add", { a: total, b: part });
      release(backend, total, part);
      total = sum;
    }
  }
  release(backend, planes);
  const result = total as TensorInfo;
  result.shape = [...filterShape];
  return result;
};

/** Sizes of the phase planes and of the widened dy grid. Exported for tests. */
export interface FilterGradGeometry {
  /** dy's height plus the filter's reach in grid cells, (fh - 1) / stride: one image's plane height. */
  readonly gridHeight: number;
  /** dy's width plus the filter's reach: the row pitch of planes and of the widened dy. */
  readonly gridWidth: number;
  /** Columns of A per image: outHeight * gridWidth (the extra columns meet zeros in dy). */
  readonly columnsPerImage: number;
  /** batch * gridHeight * gridWidth plus the zeros the most shifted slice reads past the end. */
  readonly planeStride: number;
  /** Phases in use: min(stride, filter size); phases no tap falls on are skipped. */
  readonly phasesY: number;
  readonly phasesX: number;
  /**
   * Images per matrix product. One product over a long reduction streams its operands from
   * memory once per 8 output columns; chunks of ~8k columns stay in cache (25-50% faster at
   * 128x128 inputs) and bound the size of A.
   */
  readonly imagesPerChunk: number;
}

/**
 * Reduction length (columns of A) that one matrix product aims at, at least; for products with
 * few rows (a first layer: 9 rows) chunks grow to ~1M elements of A, as the operands then fit.
 */
export const FILTER_GRAD_CHUNK_COLUMNS = 8192;
const FILTER_GRAD_CHUNK_ELEMENTS = 1 << 20;

export function filterGradGeometry(info: backend_util.Conv2DInfo): FilterGradGeometry {
  const reachY = Math.floor((info.filterHeight - 1) / info.strideHeight);
  const reachX = Math.floor((info.filterWidth - 1) / info.strideWidth);
  const gridHeight = info.outHeight + reachY;
  const gridWidth = info.outWidth + reachX;
  const columnsPerImage = info.outHeight * gridWidth;
  const rows = info.filterHeight * info.filterWidth * info.inChannels;
  return {
    gridHeight,
    gridWidth,
    columnsPerImage,
    planeStride: info.batchSize * gridHeight * gridWidth + reachX,
    phasesY: Math.min(info.strideHeight, info.filterHeight),
    phasesX: Math.min(info.strideWidth, info.filterWidth),
    imagesPerChunk: Math.max(
      1,
      Math.floor(Math.max(FILTER_GRAD_CHUNK_COLUMNS, FILTER_GRAD_CHUNK_ELEMENTS / rows) / columnsPerImage),
    ),
  };
}

/**
 * planes[py][px][ci][b][i][j] = x[b, s*i + py - padTop, s*j + px - padLeft, ci], zero outside x.
 */
function fillPhasePlanes(
  x: Float32Array,
  planes: Float32Array,
  info: backend_util.Conv2DInfo,
  g: FilterGradGeometry,
): void {
  planes.fill(0);
  const { batchSize, inHeight, inWidth, inChannels, strideHeight, strideWidth } = info;
  const { top, left } = info.padInfo;
  const { gridHeight, gridWidth, planeStride: channelStride, phasesY, phasesX } = g;
  for (let b = 0; b < batchSize; b++) {
    for (let h = 0; h < inHeight; h++) {
      const py = (h + top) % strideHeight;
      const i = (h + top - py) / strideHeight;
      if (py >= phasesY || i >= gridHeight) continue;
      for (let w = 0; w < inWidth; w++) {
        const px = (w + left) % strideWidth;
        const j = (w + left - px) / strideWidth;
        if (px >= phasesX || j >= gridWidth) continue;
        let to = (py * phasesX + px) * inChannels * channelStride + (b * gridHeight + i) * gridWidth + j;
        let from = ((b * inHeight + h) * inWidth + w) * inChannels;
        for (let ci = 0; ci < inChannels; ci++, to += channelStride) planes[to] = x[from++] as number;
      }
    }
  }
}

/**
 * Row (kh, kw, ci) of A, for images [first, first + images): per image, the plane (kh mod s,
 * kw mod s, ci) from grid cell (kh div s, kw div s) on, outHeight grid rows long.
 */
function fillRows(
  heap: Float32Array,
  planesAt: number,
  aAt: number,
  info: backend_util.Conv2DInfo,
  g: FilterGradGeometry,
  first: number,
  images: number,
): void {
  const { filterHeight, filterWidth, inChannels, strideHeight, strideWidth } = info;
  const length = g.columnsPerImage;
  let to = aAt;
  for (let kh = 0; kh < filterHeight; kh++) {
    for (let kw = 0; kw < filterWidth; kw++) {
      const phase = (kh % strideHeight) * g.phasesX + (kw % strideWidth);
      const shift = Math.floor(kh / strideHeight) * g.gridWidth + Math.floor(kw / strideWidth);
      for (let ci = 0; ci < inChannels; ci++) {
        const plane = planesAt + (phase * inChannels + ci) * g.planeStride + shift;
        for (let b = first; b < first + images; b++, to += length) {
          const from = plane + b * g.gridHeight * g.gridWidth;
          heap.copyWithin(to, from, from + length);
        }
      }
    }
  }
}

/**
 * dy's rows for images [first, first + images), each widened from `width` to `gridWidth`
 * pixels with zeros, so that dy's pixels line up with A's columns.
 */
function widenRows(
  heap: Float32Array,
  dyAt: number,
  outAt: number,
  s: { first: number; images: number; height: number; width: number; channels: number; gridWidth: number },
): void {
  const rowLength = s.width * s.channels;
  const from = dyAt + s.first * s.height * rowLength;
  if (s.gridWidth === s.width) {
    heap.copyWithin(outAt, from, from + s.images * s.height * rowLength);
    return;
  }
  const pitch = s.gridWidth * s.channels;
  heap.fill(0, outAt, outAt + s.images * s.height * pitch);
  for (let row = 0; row < s.images * s.height; row++) {
    heap.copyWithin(outAt + row * pitch, from + row * rowLength, from + (row + 1) * rowLength);
  }
}

export const conv2dBackpropFilterConfig: KernelConfig = {
  kernelName: "Conv2DBackpropFilter",
  backendName: "wasm",
  kernelFunc: conv2dBackpropFilterWasm,
};
