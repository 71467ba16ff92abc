import type { Box } from "../types.js";
import { CLASS_KEYS, CLASS_NAMES } from "../types.js";

const ALIASES: Readonly<Record<string, number>> = (() => {
  const map: Record<string, number> = {};
  CLASS_NAMES.forEach((name, i) => {
    map[name.toLowerCase()] = i;
    map[(CLASS_KEYS[i] as string).toLowerCase()] = i;
    map[String(i)] = i;
  });
  map.negative = 0;
  map["negative for pneumonia"] = 0;
  map.typical = 1;
  map["typical appearance"] = 1;
  map.indeterminate = 2;
  map["indeterminate appearance"] = 2;
  map.atypical = 3;
  map["atypical appearance"] = 3;
  return map;
})();

/** Class index for a name, short key or index (case-insensitive); undefined when unknown. */
export function parseClassName(value: string): number | undefined {
  return ALIASES[value.trim().toLowerCase()];
}

/**
 * Parses a boxes cell: JSON (`[{"x":..,"y":..,"width":..,"height":..}]`) or the SIIM Python
 * literal with single quotes. Empty, "nan" and "[]" mean no boxes. Throws a plain Error with
 * the reason on anything else.
 */
export function parseBoxesCell(cell: string): Box[] {
  const text = cell.trim();
  if (text === "" || text.toLowerCase() === "nan" || text === "[]") return [];
  let value: unknown;
  try {
    value = JSON.parse(text.replace(/'/g, '"'));
  } catch {
    throw new Error(`boxes "${truncate(text)}" are neither JSON nor a SIIM box list`);
  }
  if (!Array.isArray(value)) throw new Error(`boxes "${truncate(text)}" are not a list`);
  return value.map((entry, k) => {
    const box = entry as Record<string, unknown>;
    const x = Number(box.x);
    const y = Number(box.y);
    const width = Number(box.width);
    const height = Number(box.height);
    if (![x, y, width, height].every(Number.isFinite)) {
      throw new Error(`box ${k + 1} needs numeric x, y, width and height`);
    }
    return { x, y, width, height };
  });
}

/** Boxes from a SIIM image-level `label` string: groups of `opacity conf x0 y0 x1 y1`. */
export function parseSiimLabelBoxes(label: string): Box[] {
  const tokens = label.trim().split(/\s+/);
  const boxes: Box[] = [];
  for (let k = 0; k + 5 < tokens.length; k += 6) {
    if (tokens[k] !== "opacity") continue;
    const [x0, y0, x1, y1] = tokens.slice(k + 2, k + 6).map(Number) as [number, number, number, number];
    if ([x0, y0, x1, y1].every(Number.isFinite))
      boxes.push({ x: x0, y: y0, width: x1 - x0, height: y1 - y0 });
  }
  return boxes;
}

/** Box problems against the image size (1 px tolerance for rounding); undefined when fine. */
export function boxProblem(box: Box, width: number, height: number): string | undefined {
  const tolerance = 1;
  if (!(box.width > 0 && box.height > 0)) return `box (${fmt(box)}) has no area`;
  if (
    box.x < -tolerance ||
    box.y < -tolerance ||
    box.x + box.width > width + tolerance ||
    box.y + box.height > height + tolerance
  ) {
    return `box (${fmt(box)}) lies outside the ${width}x${height} image`;
  }
  return undefined;
}

function fmt(box: Box): string {
  return `x=${box.x}, y=${box.y}, width=${box.width}, height=${box.height}`;
}

function truncate(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
