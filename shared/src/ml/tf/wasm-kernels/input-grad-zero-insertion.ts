import type { backend_util, TensorInfo } from "@tensorflow/tfjs-core";
import { conv2dRaw, heapF32, release, type WasmBackend } from "./wasm-backend.js";

/** Fallback for geometries whose phases would need cropping: dy with zeros inserted. */
export function zeroInsertedInputGrad(
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
