import type { Rng } from "../../../random.js";

/** Hermite step from 0 (x <= edge0) to 1 (x >= edge1). */
export function smoothstep(edge0: number, edge1: number, x: number): number {
  const t = Math.min(1, Math.max(0, (x - edge0) / (edge1 - edge0)));
  return t * t * (3 - 2 * t);
}

/**
 * Adds smooth value noise (random values on a `cells` x `cells` lattice, interpolated with a
 * smoothstep) times `amplitude` to `out` (size x size). Values are centred on zero.
 */
export function addValueNoise(
  out: Float32Array,
  size: number,
  cells: number,
  amplitude: number,
  rng: Rng,
): void {
  const stride = cells + 1;
  const lattice = new Float32Array(stride * stride);
  for (let i = 0; i < lattice.length; i++) lattice[i] = rng.next() * 2 - 1;
  // Precompute per-column lattice index and weight so the inner loop is plain arithmetic.
  const col0 = new Int32Array(size);
  const colW = new Float32Array(size);
  for (let x = 0; x < size; x++) {
    const gx = ((x + 0.5) / size) * cells;
    const ix = Math.min(cells - 1, Math.floor(gx));
    const fx = gx - ix;
    col0[x] = ix;
    colW[x] = fx * fx * (3 - 2 * fx);
  }
  for (let y = 0; y < size; y++) {
    const gy = ((y + 0.5) / size) * cells;
    const iy = Math.min(cells - 1, Math.floor(gy));
    const fy = gy - iy;
    const wy = fy * fy * (3 - 2 * fy);
    const rowTop = iy * stride;
    const rowBottom = rowTop + stride;
    const base = y * size;
    for (let x = 0; x < size; x++) {
      const ix = col0[x] as number;
      const wx = colW[x] as number;
      const top = (lattice[rowTop + ix] as number) * (1 - wx) + (lattice[rowTop + ix + 1] as number) * wx;
      const bottom =
        (lattice[rowBottom + ix] as number) * (1 - wx) + (lattice[rowBottom + ix + 1] as number) * wx;
      out[base + x] = (out[base + x] as number) + amplitude * (top * (1 - wy) + bottom * wy);
    }
  }
}

/** Adds a Gaussian spot (centre and radius in normalised units) to `out`. */
export function stampGaussian(
  out: Float32Array,
  size: number,
  u: number,
  v: number,
  radius: number,
  amplitude: number,
): void {
  const cx = u * size - 0.5;
  const cy = v * size - 0.5;
  const r = Math.max(0.6, radius * size);
  const reach = Math.ceil(r * 2);
  const x0 = Math.max(0, Math.floor(cx - reach));
  const x1 = Math.min(size - 1, Math.ceil(cx + reach));
  const y0 = Math.max(0, Math.floor(cy - reach));
  const y1 = Math.min(size - 1, Math.ceil(cy + reach));
  const inv = 1 / (2 * r * r);
  for (let y = y0; y <= y1; y++) {
    const dy = y - cy;
    const base = y * size;
    for (let x = x0; x <= x1; x++) {
      const dx = x - cx;
      out[base + x] = (out[base + x] as number) + amplitude * Math.exp(-(dx * dx + dy * dy) * inv);
    }
  }
}

/** Separable Gaussian blur in place; sigma in pixels. No-op for sigma below 0.2 px. */
export function gaussianBlur(buf: Float32Array, size: number, sigma: number): void {
  if (sigma < 0.2) return;
  const radius = Math.max(1, Math.ceil(sigma * 2.5));
  const kernel = new Float32Array(radius * 2 + 1);
  let total = 0;
  for (let k = -radius; k <= radius; k++) {
    const w = Math.exp(-(k * k) / (2 * sigma * sigma));
    kernel[k + radius] = w;
    total += w;
  }
  for (let k = 0; k < kernel.length; k++) kernel[k] = (kernel[k] as number) / total;
  const tmp = new Float32Array(buf.length);
  // Horizontal pass, edges clamped.
  for (let y = 0; y < size; y++) {
    const base = y * size;
    for (let x = 0; x < size; x++) {
      let acc = 0;
      for (let k = -radius; k <= radius; k++) {
        const xx = x + k < 0 ? 0 : x + k >= size ? size - 1 : x + k;
        acc += (kernel[k + radius] as number) * (buf[base + xx] as number);
      }
      tmp[base + x] = acc;
    }
  }
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let acc = 0;
      for (let k = -radius; k <= radius; k++) {
        const yy = y + k < 0 ? 0 : y + k >= size ? size - 1 : y + k;
        acc += (kernel[k + radius] as number) * (tmp[yy * size + x] as number);
      }
      buf[y * size + x] = acc;
    }
  }
}

/**
 * Rotates a square image about its centre by `angle` radians (bilinear), filling uncovered
 * corners with `fill`. Returns a new array.
 */
export function rotateBilinear(src: Float32Array, size: number, angle: number, fill: number): Float32Array {
  const out = new Float32Array(src.length);
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const c = (size - 1) / 2;
  for (let y = 0; y < size; y++) {
    const dy = y - c;
    for (let x = 0; x < size; x++) {
      const dx = x - c;
      const sx = cos * dx + sin * dy + c;
      const sy = -sin * dx + cos * dy + c;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      if (x0 < 0 || y0 < 0 || x0 >= size - 1 || y0 >= size - 1) {
        out[y * size + x] = fill;
        continue;
      }
      const fx = sx - x0;
      const fy = sy - y0;
      const i = y0 * size + x0;
      const top = (src[i] as number) * (1 - fx) + (src[i + 1] as number) * fx;
      const bottom = (src[i + size] as number) * (1 - fx) + (src[i + size + 1] as number) * fx;
      out[y * size + x] = top * (1 - fy) + bottom * fy;
    }
  }
  return out;
}

/** Nearest-neighbour rotation for label maps (same geometry as rotateBilinear). */
export function rotateNearest(src: Uint8Array, size: number, angle: number): Uint8Array {
  const out = new Uint8Array(src.length);
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const c = (size - 1) / 2;
  for (let y = 0; y < size; y++) {
    const dy = y - c;
    for (let x = 0; x < size; x++) {
      const dx = x - c;
      const sx = Math.round(cos * dx + sin * dy + c);
      const sy = Math.round(-sin * dx + cos * dy + c);
      if (sx < 0 || sy < 0 || sx >= size || sy >= size) continue;
      out[y * size + x] = src[sy * size + sx] as number;
    }
  }
  return out;
}
