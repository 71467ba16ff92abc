import type { Box } from "../types.js";

/** How a non-square image is made square: squash it, or pad the short side (letterbox). */
export type ResizeMode = "stretch" | "pad";

/** Maps source pixel coordinates into the square output: out = in * scale + offset. */
export interface SquareMapping {
  readonly scaleX: number;
  readonly scaleY: number;
  readonly offsetX: number;
  readonly offsetY: number;
}

export function squareMapping(width: number, height: number, size: number, mode: ResizeMode): SquareMapping {
  if (mode === "stretch") return { scaleX: size / width, scaleY: size / height, offsetX: 0, offsetY: 0 };
  const scale = size / Math.max(width, height);
  return {
    scaleX: scale,
    scaleY: scale,
    offsetX: (size - width * scale) / 2,
    offsetY: (size - height * scale) / 2,
  };
}

/**
 * Rasterises boxes (source pixel coordinates) into a size x size mask: a pixel is set when its
 * centre lies inside a mapped box. A box smaller than a pixel still marks the pixel under its
 * centre, so that a labelled opacity never vanishes on a small image.
 */
export function rasterizeBoxes(
  boxes: readonly Box[],
  mapping: SquareMapping,
  size: number,
  out?: Uint8Array,
): Uint8Array {
  const mask = out ?? new Uint8Array(size * size);
  for (const box of boxes) {
    const left = box.x * mapping.scaleX + mapping.offsetX;
    const top = box.y * mapping.scaleY + mapping.offsetY;
    const right = (box.x + box.width) * mapping.scaleX + mapping.offsetX;
    const bottom = (box.y + box.height) * mapping.scaleY + mapping.offsetY;
    let x0 = Math.max(0, Math.ceil(left - 0.5));
    let x1 = Math.min(size - 1, Math.floor(right - 0.5));
    let y0 = Math.max(0, Math.ceil(top - 0.5));
    let y1 = Math.min(size - 1, Math.floor(bottom - 0.5));
    if (x1 < x0) x0 = x1 = Math.min(size - 1, Math.max(0, Math.floor((left + right) / 2)));
    if (y1 < y0) y0 = y1 = Math.min(size - 1, Math.max(0, Math.floor((top + bottom) / 2)));
    for (let y = y0; y <= y1; y++) mask.fill(1, y * size + x0, y * size + x1 + 1);
  }
  return mask;
}
