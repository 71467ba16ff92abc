import {
  backend_util,
  type Conv2DBackpropInputAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from "@tensorflow/tfjs-core";
import { runOriginalKernel } from "./original-kernels.js";
import { asWasmBackend, conv2dRaw, heapF32, heapIndex, release, type WasmBackend } from "./wasm-backend.js";

/**
 * dx as forward convolutions on XNNPACK (the backend's own Conv2DBackpropInput is a plain loop).
 * Stride 1: dy convolved with the filter flipped in space, channel axes swapped. Stride s: one
 * such convolution per output phase (see axisPhases), interleaved into dx, which does the
 * forward pass's multiply-adds instead of the s^2 times as many that inserting zeros into dy
 * would. Geometries whose phases would need negative padding fall back to zero insertion.
 */
export const conv2dBackpropInputWasm: KernelFunc = ({ inputs, backend: anyBackend, attrs }) => {
  const backend = asWasmBackend(anyBackend);
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } =
    attrs as unknown as Conv2DBackpropInputAttrs;
  const info = backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    backend_util.convertConv2DDataFormat(dataFormat),
  );
  if (info.dataFormat !== "channelsLast") {
    throw new Error("wasm Conv2DBackpropInput supports NHWC only");
  }
  const { filterHeight, filterWidth, strideHeight, strideWidth, inHeight, inWidth, outHeight, outWidth } =
    info;
  if (filterHeight * filterWidth * info.inChannels <= COL2IM_MAX_TAPS) {
    return col2imInputGrad(backend, dy, filter, info);
  }
  const phasesY = axisPhases(inHeight, outHeight, filterHeight, strideHeight, info.padInfo.top);
  const phasesX = axisPhases(inWidth, outWidth, filterWidth, strideWidth, info.padInfo.left);
  if (phasesY !== undefined && phasesX !== undefined) {
    return phaseDecomposedInputGrad(backend, dy, filter, info, phasesY, phasesX);
  }
  return zeroInsertedInputGrad(backend, dy, filter, info);
};

/**
 * Below this many filter taps times input channels (a first layer on grayscale images), dx is
 * better computed as the product dy · W^T (one well-shaped GEMM, pixels as rows) followed by
 * col2im: a convolution with 1-2 output channels runs XNNPACK at ~2 GFLOP/s.
 */
const COL2IM_MAX_TAPS = 32;

/**
 * P = dy [pixels, out] · W^T [out, taps], then every P[pixel, (kh, kw, ci)] is added to the dx
 * pixel it came from. Layers' fused convolutions compute the first layer's dx even though
 * nothing needs it, so this path matters more than its share of FLOPs.
 */
function col2imInputGrad(
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

/**
 * How one spatial axis of dx splits into `stride` phases: output positions q, q + s, q + 2s, ...
 * receive dy through the filter taps kh = q + pad (mod s) only, so each phase is a stride-1
 * convolution of dy with a sub-filter of those taps (reversed). Together the phases do exactly
 * the forward pass's multiply-adds, where zero insertion does stride^2 times as many.
 */
export interface AxisPhase {
  /** First dx position of this phase; the phase covers q, q + s, ... */
  readonly offset: number;
  /** Filter taps of this phase, in the order the sub-filter holds them. */
  readonly taps: number[];
  /** Number of dx positions in this phase. */
  readonly length: number;
  readonly padBefore: number;
  readonly padAfter: number;
}

/** The phases of one axis, or undefined if one would need negative padding (cropping). */
export function axisPhases(
  inSize: number,
  outSize: number,
  filterSize: number,
  stride: number,
  padBefore: number,
): AxisPhase[] | undefined {
  const phases: AxisPhase[] = [];
  for (let offset = 0; offset < Math.min(stride, inSize); offset++) {
    const first = (offset + padBefore) % stride;
    const taps: number[] = [];
    for (let tap = first; tap < filterSize; tap += stride) taps.unshift(tap);
    const length = Math.ceil((inSize - offset) / stride);
    const last = taps[0];
    if (last === undefined) {
      phases.push({ offset, taps, length, padBefore: 0, padAfter: 0 });
      continue;
    }
    // dy index read for the sub-filter's first tap, relative to the dx position's index m.
    const lowest = (offset + padBefore - last) / stride;
    const before = 0 - lowest;
    const after = length - 1 + taps.length - outSize - before;
    if (before < 0 || after < 0) return undefined;
    phases.push({ offset, taps, length, padBefore: before, padAfter: after });
  }
  return phases;
}

function phaseDecomposedInputGrad(
  backend: WasmBackend,
  dy: TensorInfo,
  filter: TensorInfo,
  info: backend_util.Conv2DInfo,
  phasesY: AxisPhase[],
  phasesX: AxisPhase[],
): TensorInfo {
  const { batchSize: batch, inHeight: height, inWidth: width, inChannels, strideHeight, strideWidth } = info;
  if (phasesY.length === 1 && phasesX.length === 1) {
    const [py, px] = [phasesY[0] as AxisPhase, phasesX[0] as AxisPhase];
    return phaseConv(backend, dy, filter, py, px);
  }
  const columns = mergeColumnPhases(phasesX, width, info.outWidth, info.filterWidth, strideWidth);
  const dx = backend.makeOutput([batch, height, width, inChannels], "float32");
  if (phasesY.some((p) => p.taps.length === 0) || phasesX.some((p) => p.taps.length === 0)) {
    heapF32(backend, dx).fill(0);
  }
  for (const py of phasesY) {
    if (py.taps.length === 0) continue;
    if (columns !== undefined) {
      // One convolution gives whole dx rows of this row phase: copy them into place.
      const rows = mergedColumnsConv(backend, dy, filter, py, columns);
      const heap = backend.wasm.HEAPF32;
      const rowLength = width * inChannels;
      let from = heapIndex(backend, rows);
      const dxAt = heapIndex(backend, dx);
      for (let b = 0; b < batch; b++) {
        for (let m = 0; m < py.length; m++, from += rowLength) {
          const to = dxAt + (b * height + py.offset + m * strideHeight) * width * inChannels;
          heap.copyWithin(to, from, from + rowLength);
        }
      }
      release(backend, rows);
      continue;
    }
    for (const px of phasesX) {
      if (px.taps.length === 0) continue;
      const part = phaseConv(backend, dy, filter, py, px);
      const src = heapF32(backend, part);
      const dst = heapF32(backend, dx);
      for (let b = 0; b < batch; b++) {
        for (let m = 0; m < py.length; m++) {
          let from = (b * py.length + m) * px.length * inChannels;
          const row = (b * height + py.offset + m * strideHeight) * width;
          for (let n = 0; n < px.length; n++) {
            let to = (row + px.offset + n * strideWidth) * inChannels;
            for (let c = 0; c < inChannels; c++) dst[to++] = src[from++] as number;
          }
        }
      }
      release(backend, part);
    }
  }
  return dx;
}

/**
 * All column phases of a row phase in one convolution: output channel (px, ci) holds column
 * phase px, so each output row is a whole dx row ([width/s, s, ci] = [width, ci]) and
 * interleaving is a row copy. The phases share one tap window (their union), which costs a few
 * zero taps (4 taps where 3 are needed for 3x3 filters at stride 2) but saves a per-element
 * scatter of dx. Needs width divisible by the stride.
 */
export interface MergedColumns {
  /** taps[t][px]: the filter column for window position t in column phase px, or -1 (zero). */
  readonly taps: number[][];
  /** dx columns per phase: width / stride. */
  readonly length: number;
  readonly padBefore: number;
  readonly padAfter: number;
}

export function mergeColumnPhases(
  phases: readonly AxisPhase[],
  inSize: number,
  outSize: number,
  filterSize: number,
  stride: number,
): MergedColumns | undefined {
  if (inSize % stride !== 0 || phases.length !== stride || phases.some((p) => p.taps.length === 0)) {
    return undefined;
  }
  const length = inSize / stride;
  const padBefore = Math.max(...phases.map((p) => p.padBefore));
  // Window position t reads dy at offset t - padBefore from the dx column's index n; phase px
  // gets that from filter column kw = px + pad - s * (t - padBefore) (pad: the forward's).
  const last = Math.max(...phases.map((p) => p.taps.length - p.padBefore)) - 1;
  const window = last + padBefore + 1;
  const taps: number[][] = [];
  for (let t = 0; t < window; t++) {
    taps.push(
      phases.map((p) => {
        const index = t - (padBefore - p.padBefore);
        return index >= 0 && index < p.taps.length ? (p.taps[index] as number) : -1;
      }),
    );
  }
  const padAfter = length - 1 + window - outSize - padBefore;
  if (padAfter < 0 || taps.some((row) => row.some((kw) => kw >= filterSize))) return undefined;
  return { taps, length, padBefore, padAfter };
}

/** dy convolved with g[ty, t, out, (px, in)] = w[tapsY[ty], taps[t][px], in, out] (0 where -1). */
function mergedColumnsConv(
  backend: WasmBackend,
  dy: TensorInfo,
  filter: TensorInfo,
  py: AxisPhase,
  columns: MergedColumns,
): TensorInfo {
  const [, fw, inC, outC] = filter.shape as [number, number, number, number];
  const phases = columns.taps[0]?.length ?? 1;
  const sub = backend.makeOutput([py.taps.length, columns.taps.length, outC, phases * inC], "float32");
  const src = heapF32(backend, filter);
  const dst = heapF32(backend, sub);
  dst.fill(0);
  let to = 0;
  for (const kh of py.taps) {
    for (const row of columns.taps) {
      for (let o = 0; o < outC; o++) {
        for (const kw of row) {
          if (kw >= 0) {
            const base = (kh * fw + kw) * inC * outC + o;
            for (let i = 0; i < inC; i++) dst[to + i] = src[base + i * outC] as number;
          }
          to += inC;
        }
      }
    }
  }
  const out = conv2dRaw(backend, dy, sub, {
    padTop: py.padBefore,
    padBottom: py.padAfter,
    padLeft: columns.padBefore,
    padRight: columns.padAfter,
    strideHeight: 1,
    strideWidth: 1,
    dilationHeight: 1,
    dilationWidth: 1,
  });
  release(backend, sub);
  return out;
}

/** One phase: dy convolved with the sub-filter g[ty, tx, out, in] = w[tapsY[ty], tapsX[tx], in, out]. */
function phaseConv(
  backend: WasmBackend,
  dy: TensorInfo,
  filter: TensorInfo,
  py: AxisPhase,
  px: AxisPhase,
): TensorInfo {
  const [, fw, inC, outC] = filter.shape as [number, number, number, number];
  const sub = backend.makeOutput([py.taps.length, px.taps.length, outC, inC], "float32");
  const src = heapF32(backend, filter);
  const dst = heapF32(backend, sub);
  let to = 0;
  for (const kh of py.taps) {
    for (const kw of px.taps) {
      const base = (kh * fw + kw) * inC * outC;
      for (let o = 0; o < outC; o++) {
        for (let i = 0; i < inC; i++) dst[to++] = src[base + i * outC + o] as number;
      }
    }
  }
  const out = conv2dRaw(backend, dy, sub, {
    padTop: py.padBefore,
    padBottom: py.padAfter,
    padLeft: px.padBefore,
    padRight: px.padAfter,
    strideHeight: 1,
    strideWidth: 1,
    dilationHeight: 1,
    dilationWidth: 1,
  });
  release(backend, sub);
  return out;
}

/** Fallback for geometries whose phases would need cropping: dy with zeros inserted. */
function zeroInsertedInputGrad(
  backend: WasmBackend,
  dy: TensorInfo,
  filter: TensorInfo,
  info: backend_util.Conv2DInfo,
): TensorInfo {
  const { filterHeight, filterWidth, strideHeight, strideWidth, inHeight, inWidth } = info;
  const [, outHeight, outWidth] = dy.shape as [number, number, number, number];
  const dilatedHeight = (outHeight - 1) * strideHeight + 1;
  const dilatedWidth = (outWidth - 1) * strideWidth + 1;
  const padTop = filterHeight - 1 - info.padInfo.top;
  const padLeft = filterWidth - 1 - info.padInfo.left;
  const padBottom = inHeight + filterHeight - 1 - dilatedHeight - padTop;
  const padRight = inWidth + filterWidth - 1 - dilatedWidth - padLeft;
  const flipped = flipFilter(backend, filter);
  const crop = {
    top: Math.max(0, -padTop),
    bottom: Math.max(0, -padBottom),
    left: Math.max(0, -padLeft),
    right: Math.max(0, -padRight),
  };
  const source = insertZeros(backend, dy, strideHeight, strideWidth, crop);
  const dx = conv2dRaw(backend, source, flipped, {
    padTop: Math.max(padTop, 0),
    padBottom: Math.max(padBottom, 0),
    padLeft: Math.max(padLeft, 0),
    padRight: Math.max(padRight, 0),
    strideHeight: 1,
    strideWidth: 1,
    dilationHeight: 1,
    dilationWidth: 1,
  });
  release(backend, flipped, source);
  return dx;
}

/** [fh, fw, in, out] -> [fh, fw, out, in], reversed along both spatial axes. */
function flipFilter(backend: WasmBackend, filter: TensorInfo): TensorInfo {
  const [fh, fw, inC, outC] = filter.shape as [number, number, number, number];
  const out = backend.makeOutput([fh, fw, outC, inC], "float32");
  const src = heapF32(backend, filter);
  const dst = heapF32(backend, out);
  for (let kh = 0; kh < fh; kh++) {
    for (let kw = 0; kw < fw; kw++) {
      const srcBase = ((fh - 1 - kh) * fw + (fw - 1 - kw)) * inC * outC;
      const dstBase = (kh * fw + kw) * outC * inC;
      for (let i = 0; i < inC; i++) {
        for (let o = 0; o < outC; o++) dst[dstBase + o * inC + i] = src[srcBase + i * outC + o] as number;
      }
    }
  }
  return out;
}

/**
 * Spreads dy's pixels `stride` apart (zeros between) and drops `crop` rows/columns at the edges,
 * which stand for negative padding.
 */
function insertZeros(
  backend: WasmBackend,
  dy: TensorInfo,
  strideHeight: number,
  strideWidth: number,
  crop: { top: number; bottom: number; left: number; right: number },
): TensorInfo {
  const [batch, height, width, channels] = dy.shape as [number, number, number, number];
  const outHeight = (height - 1) * strideHeight + 1 - crop.top - crop.bottom;
  const outWidth = (width - 1) * strideWidth + 1 - crop.left - crop.right;
  const out = backend.makeOutput([batch, outHeight, outWidth, channels], "float32");
  const src = heapF32(backend, dy);
  const dst = heapF32(backend, out);
  dst.fill(0);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < height; i++) {
      const row = i * strideHeight - crop.top;
      if (row < 0 || row >= outHeight) continue;
      for (let j = 0; j < width; j++) {
        const col = j * strideWidth - crop.left;
        if (col < 0 || col >= outWidth) continue;
        const from = ((b * height + i) * width + j) * channels;
        const to = ((b * outHeight + row) * outWidth + col) * channels;
        dst.set(src.subarray(from, from + channels), to);
      }
    }
  }
  return out;
}

export const conv2dBackpropInputConfig: KernelConfig = {
  kernelName: "Conv2DBackpropInput",
  backendName: "wasm",
  kernelFunc: conv2dBackpropInputWasm,
};
