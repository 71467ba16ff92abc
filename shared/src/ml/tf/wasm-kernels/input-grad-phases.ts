import type { backend_util, TensorInfo } from "@tensorflow/tfjs-core";
import { conv2dRaw, heapF32, heapIndex, release, type WasmBackend } from "./wasm-backend.js";

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

export function phaseDecomposedInputGrad(
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
