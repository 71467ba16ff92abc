import { type ResizeMode, squareMapping } from "./boxes.js";

interface AxisTaps {
  readonly start: Int32Array;
  readonly count: Int32Array;
  readonly index: Int32Array;
  readonly weight: Float32Array;
}

/**
 * Per output pixel, which source pixels contribute and how much: area averaging when shrinking
 * (every source pixel counts once, no aliasing), linear interpolation when enlarging. Output
 * pixels outside the mapped content (letterbox) get no taps.
 */
function axisTaps(srcLength: number, dstLength: number, scale: number, offset: number): AxisTaps {
  const start = new Int32Array(dstLength);
  const count = new Int32Array(dstLength);
  const index: number[] = [];
  const weight: number[] = [];
  for (let j = 0; j < dstLength; j++) {
    start[j] = index.length;
    const lo = (j - offset) / scale;
    const hi = (j + 1 - offset) / scale;
    if (hi <= 0 || lo >= srcLength) continue;
    if (scale <= 1) {
      const a = Math.max(0, lo);
      const b = Math.min(srcLength, hi);
      const total = b - a;
      for (let i = Math.floor(a); i < Math.ceil(b); i++) {
        const w = Math.min(b, i + 1) - Math.max(a, i);
        if (w <= 0) continue;
        index.push(i);
        weight.push(w / total);
      }
    } else {
      const centre = Math.min(srcLength - 0.5, Math.max(0.5, (lo + hi) / 2)) - 0.5;
      const i0 = Math.floor(centre);
      const f = centre - i0;
      index.push(i0);
      weight.push(1 - f);
      if (f > 0 && i0 + 1 < srcLength) {
        index.push(i0 + 1);
        weight.push(f);
      }
    }
    count[j] = index.length - (start[j] as number);
  }
  return { start, count, index: Int32Array.from(index), weight: Float32Array.from(weight) };
}

/**
 * Resizes a width x height grey image to size x size (stretch, or letterbox with `fill`).
 * Separable: rows first, then columns.
 */
export function resizeToSquare(
  src: Float32Array,
  width: number,
  height: number,
  size: number,
  mode: ResizeMode,
  fill = 0,
): Float32Array {
  const map = squareMapping(width, height, size, mode);
  const tx = axisTaps(width, size, map.scaleX, map.offsetX);
  const ty = axisTaps(height, size, map.scaleY, map.offsetY);
  const rows = new Float32Array(height * size);
  for (let y = 0; y < height; y++) {
    const base = y * width;
    for (let x = 0; x < size; x++) {
      const s = tx.start[x] as number;
      const n = tx.count[x] as number;
      let acc = 0;
      for (let k = s; k < s + n; k++)
        acc += (tx.weight[k] as number) * (src[base + (tx.index[k] as number)] as number);
      rows[y * size + x] = n > 0 ? acc : fill;
    }
  }
  const out = new Float32Array(size * size);
  for (let y = 0; y < size; y++) {
    const s = ty.start[y] as number;
    const n = ty.count[y] as number;
    for (let x = 0; x < size; x++) {
      if (n === 0 || (tx.count[x] as number) === 0) {
        out[y * size + x] = fill;
        continue;
      }
      let acc = 0;
      for (let k = s; k < s + n; k++)
        acc += (ty.weight[k] as number) * (rows[(ty.index[k] as number) * size + x] as number);
      out[y * size + x] = acc;
    }
  }
  return out;
}
