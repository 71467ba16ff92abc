import { describe, expect, it } from "vitest";
import { parseCsv } from "../../../../../shared/src/ml/data/loaders/csv.js";
import {
  boxProblem,
  parseBoxesCell,
  parseClassName,
  parseSiimLabelBoxes,
} from "../../../../../shared/src/ml/data/loaders/labels.js";
import { siimBoxesCell, siimLabelCell } from "../../../../../shared/src/ml/data/synth/write-siim.js";

describe("parseCsv", () => {
  it("handles quotes, doubled quotes, embedded commas and newlines, CRLF and a BOM", () => {
    const text = '\ufeffid,boxes,note\r\na,"[{\'x\': 1, \'y\': 2}]","say ""hi"""\r\n\r\nb,,"two\nlines"\n';
    const table = parseCsv(text);
    expect(table.header).toEqual(["id", "boxes", "note"]);
    expect(table.rows).toHaveLength(2);
    expect(table.rows[0]?.values).toEqual({ id: "a", boxes: "[{'x': 1, 'y': 2}]", note: 'say "hi"' });
    expect(table.rows[0]?.line).toBe(2);
    expect(table.rows[1]?.values).toEqual({ id: "b", boxes: "", note: "two\nlines" });
    expect(table.rows[1]?.line).toBe(4);
  });

  it("reports the field count so that short rows can be flagged", () => {
    const table = parseCsv("a,b,c\n1,2\n1,2,3\n");
    expect(table.rows.map((r) => r.fieldCount)).toEqual([2, 3]);
  });
});

describe("class names", () => {
  it("accepts full names, keys and indices, case-insensitively", () => {
    expect(parseClassName("Negative for Pneumonia")).toBe(0);
    expect(parseClassName("typical")).toBe(1);
    expect(parseClassName(" Indeterminate Appearance ")).toBe(2);
    expect(parseClassName("ATYPICAL")).toBe(3);
    expect(parseClassName("3")).toBe(3);
    expect(parseClassName("covid")).toBeUndefined();
    expect(parseClassName("4")).toBeUndefined();
  });
});

describe("boxes", () => {
  it("parses SIIM literals and JSON, and treats empty/nan as none", () => {
    expect(
      parseBoxesCell("[{'x': 789.28836, 'y': 582.43035, 'width': 1026.65662, 'height': 1917.30292}]"),
    ).toEqual([{ x: 789.28836, y: 582.43035, width: 1026.65662, height: 1917.30292 }]);
    expect(parseBoxesCell('[{"x":1,"y":2,"width":3,"height":4}]')).toEqual([
      { x: 1, y: 2, width: 3, height: 4 },
    ]);
    expect(parseBoxesCell("")).toEqual([]);
    expect(parseBoxesCell("nan")).toEqual([]);
    expect(() => parseBoxesCell("[{'x': 1}]")).toThrow(/numeric/);
    expect(() => parseBoxesCell("{oops")).toThrow(/neither JSON/);
  });

  it("parses SIIM image-level label strings", () => {
    expect(parseSiimLabelBoxes("opacity 1 10 20 30 60 opacity 1 5 5 6 7")).toEqual([
      { x: 10, y: 20, width: 20, height: 40 },
      { x: 5, y: 5, width: 1, height: 2 },
    ]);
    expect(parseSiimLabelBoxes("none 1 0 0 1 1")).toEqual([]);
  });

  it("writes what it reads (the synth writer's cells)", () => {
    const boxes = [
      { x: 3, y: 4.5, width: 10, height: 12.25 },
      { x: 40, y: 2, width: 7, height: 9 },
    ];
    expect(parseBoxesCell(siimBoxesCell(boxes))).toEqual(boxes);
    expect(parseSiimLabelBoxes(siimLabelCell(boxes))).toEqual(boxes);
    expect(siimLabelCell([])).toBe("none 1 0 0 1 1");
  });

  it("flags boxes outside the image beyond one pixel of rounding, and boxes without area", () => {
    expect(boxProblem({ x: 0, y: 0, width: 100, height: 50 }, 100, 50)).toBeUndefined();
    expect(boxProblem({ x: -0.5, y: 0, width: 100.9, height: 50 }, 100, 50)).toBeUndefined();
    expect(boxProblem({ x: 90, y: 0, width: 20, height: 10 }, 100, 50)).toMatch(/outside the 100x50 image/);
    expect(boxProblem({ x: 10, y: -5, width: 20, height: 10 }, 100, 50)).toMatch(/outside/);
    expect(boxProblem({ x: 10, y: 5, width: 0, height: 10 }, 100, 50)).toMatch(/no area/);
  });
});
