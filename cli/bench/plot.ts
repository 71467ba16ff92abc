import { forEachTextPixel, GLYPH_HEIGHT, textWidth } from "../../shared/src/ml/data/image/font.js";
import { encodeRgbaPng } from "../../shared/src/ml/data/image/png.js";

export interface Bar {
  readonly label: string;
  readonly mean: number;
  readonly sd: number;
  /** Bars of a group share a colour. */
  readonly group: string;
}

const COLOURS: ReadonlyArray<readonly [number, number, number]> = [
  [66, 114, 196],
  [237, 125, 49],
  [112, 173, 71],
  [165, 105, 189],
];

/**
 * A horizontal bar chart on a 0–1 axis with ±SD whiskers, drawn into an RGBA buffer with the
 * project's bitmap font (no canvas dependency), as a PNG.
 */
export function renderBarChart(input: { title: string; bars: readonly Bar[] }): Buffer {
  const scale = 2;
  const rowHeight = 26;
  const labelWidth = Math.max(...input.bars.map((b) => textWidth(b.label, scale)), 100) + 20;
  const plotWidth = 520;
  const width = labelWidth + plotWidth + 90;
  const top = 60;
  const height = top + rowHeight * input.bars.length + 50;
  const rgba = new Uint8Array(width * height * 4).fill(255);
  const set = (x: number, y: number, [r, g, b]: readonly [number, number, number]) => {
    if (x < 0 || y < 0 || x >= width || y >= height) return;
    const i = (Math.round(y) * width + Math.round(x)) * 4;
    rgba[i] = r;
    rgba[i + 1] = g;
    rgba[i + 2] = b;
    rgba[i + 3] = 255;
  };
  const rect = (x0: number, y0: number, w: number, h: number, colour: readonly [number, number, number]) => {
    for (let y = Math.floor(y0); y < y0 + h; y++)
      for (let x = Math.floor(x0); x < x0 + w; x++) set(x, y, colour);
  };
  const text = (s: string, x: number, y: number, colour: readonly [number, number, number] = [20, 20, 20]) =>
    forEachTextPixel(s, x, y, scale, (px, py) => set(px, py, colour));

  text(input.title, 10, 14);
  const groups = [...new Set(input.bars.map((b) => b.group))];
  const xOf = (value: number) => labelWidth + Math.max(0, Math.min(1, value)) * plotWidth;
  for (let tick = 0; tick <= 10; tick++) {
    const x = xOf(tick / 10);
    rect(x, top - 6, 1, rowHeight * input.bars.length + 6, [225, 225, 225]);
    if (tick % 2 === 0)
      text((tick / 10).toFixed(1), x - 8, top + rowHeight * input.bars.length + 8, [90, 90, 90]);
  }
  input.bars.forEach((bar, i) => {
    const y = top + i * rowHeight;
    const colour = COLOURS[groups.indexOf(bar.group) % COLOURS.length] ?? [0, 0, 0];
    text(bar.label, 10, y + (rowHeight - GLYPH_HEIGHT * scale) / 2);
    if (!Number.isFinite(bar.mean)) {
      text("n/a", labelWidth + 4, y + 6, [150, 0, 0]);
      return;
    }
    rect(labelWidth, y + 4, xOf(bar.mean) - labelWidth, rowHeight - 8, colour);
    if (bar.sd > 0) {
      const x0 = xOf(bar.mean - bar.sd);
      const x1 = xOf(bar.mean + bar.sd);
      rect(x0, y + rowHeight / 2 - 1, x1 - x0, 2, [30, 30, 30]);
      rect(x0, y + 7, 2, rowHeight - 14, [30, 30, 30]);
      rect(x1 - 1, y + 7, 2, rowHeight - 14, [30, 30, 30]);
    }
    text(bar.mean.toFixed(3), xOf(Math.min(1, bar.mean + bar.sd)) + 6, y + 6);
  });
  groups.forEach((group, g) => {
    const x = 10 + g * 200;
    const y = height - 22;
    rect(x, y, 14, 14, COLOURS[g % COLOURS.length] ?? [0, 0, 0]);
    text(group, x + 20, y);
  });
  return encodeRgbaPng(rgba, width, height);
}
