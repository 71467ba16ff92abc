import { Rng } from "../../../random.js";
import { forEachTextPixel, GLYPH_HEIGHT, GLYPH_WIDTH, textWidth } from "../image/font.js";
import { encodeRgbaPng } from "../image/png.js";
import { CLASS_KEYS, type ImageSet, NUM_CLASSES } from "../types.js";

export interface ContactSheetOptions {
  /** Title line, e.g. the site id and its counts. */
  readonly title: string;
  /** Images shown per class (one column per class). */
  readonly perClass?: number;
  /** Tile side in pixels (images are resampled nearest-neighbour). */
  readonly tile?: number;
  /** Picks which images are shown. */
  readonly seed?: number;
  /** Class totals of the whole site (CLASS_NAMES order), shown in the column titles; default: counts in `set`. */
  readonly classCounts?: readonly number[];
}

/** Overlay colour for opacity masks and the tint strength. */
const MASK_RGB = [255, 64, 48] as const;
const MASK_ALPHA = 0.35;

/**
 * A PNG with one column per class and `perClass` sampled images in each: the image, its mask as
 * a red tint with a bright outline, and a caption (class key and image id). Unlabelled images
 * get a fifth column. Missing classes leave their column empty, which is itself worth seeing.
 */
export function renderContactSheet(set: ImageSet, options: ContactSheetOptions): Buffer {
  const perClass = options.perClass ?? 4;
  const tile = options.tile ?? Math.max(96, set.size);
  const scale = tile >= 160 ? 2 : 1;
  const caption = GLYPH_HEIGHT * scale + 6;
  const pad = 4;
  const header = GLYPH_HEIGHT * 2 + 14 + GLYPH_HEIGHT * scale + 8;
  const columnTitleY = GLYPH_HEIGHT * 2 + 14;
  const hasUnlabelled = Array.from(set.labels).some((l) => l < 0);
  const columns = NUM_CLASSES + (hasUnlabelled ? 1 : 0);
  const width = pad + columns * (tile + pad);
  const height = header + perClass * (tile + caption + pad) + pad;
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    rgba[i * 4] = 24;
    rgba[i * 4 + 1] = 26;
    rgba[i * 4 + 2] = 32;
    rgba[i * 4 + 3] = 255;
  }
  const text = (s: string, x: number, y: number, textScale: number, rgb: readonly number[]): void => {
    forEachTextPixel(s, x, y, textScale, (px, py) => {
      if (px < 0 || py < 0 || px >= width || py >= height) return;
      const o = (py * width + px) * 4;
      rgba[o] = rgb[0] as number;
      rgba[o + 1] = rgb[1] as number;
      rgba[o + 2] = rgb[2] as number;
    });
  };
  text(options.title, pad, 6, 2, [235, 235, 235]);

  const legend = "red: opacity mask";
  text(legend, width - pad - textWidth(legend, 1), 6 + GLYPH_HEIGHT, 1, [255, 110, 90]);
  const rng = new Rng(options.seed ?? 0);
  for (let column = 0; column < columns; column++) {
    const label = column < NUM_CLASSES ? column : -1;
    const members: number[] = [];
    for (let i = 0; i < set.count; i++)
      if ((set.labels[i] as number) === label || (label === -1 && (set.labels[i] as number) < 0))
        members.push(i);
    const chosen = rng.shuffle(members).slice(0, perClass);
    const x0 = pad + column * (tile + pad);
    const key = label >= 0 ? (CLASS_KEYS[label] as string) : "unlabelled";
    const colour = label === 0 ? [150, 220, 150] : label < 0 ? [170, 170, 220] : [255, 200, 120];
    const total = label >= 0 ? (options.classCounts?.[label] ?? members.length) : members.length;
    text(`${key} (${total})`, x0, columnTitleY, scale, colour);
    chosen.forEach((index, row) => {
      const y0 = header + row * (tile + caption + pad);
      drawTile(rgba, width, set, index, x0, y0, tile);
      // File ids can be long paths: keep the tail that fits under the tile.
      const id = (set.imageIds[index] ?? "").replace(/\.(dcm|dicom|png|jpe?g)$/i, "");
      const fits = Math.max(4, Math.floor((tile + 1) / ((GLYPH_WIDTH + 1) * scale)));
      text(id.length > fits ? id.slice(-fits) : id, x0, y0 + tile + 3, scale, [200, 200, 200]);
    });
    if (chosen.length === 0) text("none", x0 + 4, header + 4, scale, [160, 160, 160]);
  }
  return encodeRgbaPng(rgba, width, height);
}

function drawTile(
  rgba: Uint8Array,
  width: number,
  set: ImageSet,
  index: number,
  x0: number,
  y0: number,
  tile: number,
): void {
  const size = set.size;
  const base = index * size * size;
  for (let ty = 0; ty < tile; ty++) {
    const sy = Math.min(size - 1, Math.floor((ty * size) / tile));
    for (let tx = 0; tx < tile; tx++) {
      const sx = Math.min(size - 1, Math.floor((tx * size) / tile));
      const i = base + sy * size + sx;
      const v = Math.round(Math.min(1, Math.max(0, set.images[i] as number)) * 255);
      const m = (set.masks[i] as number) > 0;
      const o = ((y0 + ty) * width + x0 + tx) * 4;
      if (!m) {
        rgba[o] = v;
        rgba[o + 1] = v;
        rgba[o + 2] = v;
        continue;
      }
      // Outline where a neighbour is outside the mask; tint inside.
      const left = sx > 0 ? (set.masks[i - 1] as number) : 0;
      const right = sx < size - 1 ? (set.masks[i + 1] as number) : 0;
      const up = sy > 0 ? (set.masks[i - size] as number) : 0;
      const down = sy < size - 1 ? (set.masks[i + size] as number) : 0;
      const edge = !(left && right && up && down);
      const alpha = edge ? 0.85 : MASK_ALPHA;
      rgba[o] = Math.round(v * (1 - alpha) + MASK_RGB[0] * alpha);
      rgba[o + 1] = Math.round(v * (1 - alpha) + MASK_RGB[1] * alpha);
      rgba[o + 2] = Math.round(v * (1 - alpha) + MASK_RGB[2] * alpha);
    }
  }
}
