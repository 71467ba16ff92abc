import { describe, expect, it } from "vitest";
import { applyWindow } from "../../../../../shared/src/ml/data/dicom/decode.js";
import { decodeRleFrame } from "../../../../../shared/src/ml/data/dicom/rle.js";
import { rasterizeBoxes, squareMapping } from "../../../../../shared/src/ml/data/image/boxes.js";
import { resizeToSquare } from "../../../../../shared/src/ml/data/image/resize.js";

describe("resizeToSquare", () => {
  it("area-averages when shrinking", () => {
    // 4x4 -> 2x2: each output pixel is the mean of a 2x2 block.
    const src = Float32Array.from([1, 3, 5, 7, 1, 3, 5, 7, 0, 0, 8, 8, 0, 0, 8, 8]);
    expect(Array.from(resizeToSquare(src, 4, 4, 2, "stretch"))).toEqual([2, 6, 0, 8]);
  });

  it("averages fractional coverage (3 -> 2 pixels)", () => {
    // Output pixel 0 covers source [0, 1.5): (1 * 0 + 0.5 * 3) / 1.5 = 1; pixel 1 covers [1.5, 3): (0.5 * 3 + 1 * 6) / 1.5 = 5.
    const src = Float32Array.from([0, 3, 6, 0, 3, 6, 0, 3, 6]);
    const out = resizeToSquare(src, 3, 3, 2, "stretch");
    expect(out[0]).toBeCloseTo(1, 6);
    expect(out[1]).toBeCloseTo(5, 6);
  });

  it("keeps a constant image constant, up or down, and letterboxes with the fill", () => {
    const src = new Float32Array(6 * 3).fill(0.4);
    for (const size of [2, 5, 12]) {
      for (const v of resizeToSquare(src, 6, 3, size, "stretch")) expect(v).toBeCloseTo(0.4, 6);
    }
    const padded = resizeToSquare(src, 6, 3, 6, "pad", 0);
    // 6x3 in a 6x6 square: rows 0 and 1 and 4 and 5 are padding... content occupies rows 1.5..4.5.
    expect(padded[0]).toBe(0);
    expect(padded[3 * 6]).toBeCloseTo(0.4, 6);
  });
});

describe("rasterizeBoxes", () => {
  it("marks pixels whose centres lie in the mapped box", () => {
    // A 100x50 image stretched to 10x10: box x 20..60, y 10..30 maps to x 2..6, y 2..6.
    const mask = rasterizeBoxes(
      [{ x: 20, y: 10, width: 40, height: 20 }],
      squareMapping(100, 50, 10, "stretch"),
      10,
    );
    for (let y = 0; y < 10; y++) {
      for (let x = 0; x < 10; x++) expect(mask[y * 10 + x]).toBe(x >= 2 && x < 6 && y >= 2 && y < 6 ? 1 : 0);
    }
  });

  it("never loses a tiny box", () => {
    const mask = rasterizeBoxes(
      [{ x: 51, y: 51, width: 1, height: 1 }],
      squareMapping(1000, 1000, 8, "stretch"),
      8,
    );
    expect(mask.reduce((s, v) => s + v, 0)).toBe(1);
  });
});

describe("applyWindow (PS3.3 C.11.2.1.2)", () => {
  it("LINEAR matches the standard's piecewise formula", () => {
    // c = 100, w = 51: below c - 0.5 - 25 = 74.5 -> 0, above c - 0.5 + 25 = 124.5 -> 1.
    expect(applyWindow(74.5, 100, 51, "LINEAR")).toBe(0);
    expect(applyWindow(125, 100, 51, "LINEAR")).toBe(1);
    expect(applyWindow(99.5, 100, 51, "LINEAR")).toBeCloseTo(0.5, 9);
    expect(applyWindow(112, 100, 51, "LINEAR")).toBeCloseTo((112 - 99.5) / 50 + 0.5, 9);
  });

  it("LINEAR_EXACT and SIGMOID", () => {
    expect(applyWindow(75, 100, 50, "LINEAR_EXACT")).toBe(0);
    expect(applyWindow(110, 100, 50, "LINEAR_EXACT")).toBeCloseTo(0.7, 9);
    expect(applyWindow(100, 100, 50, "SIGMOID")).toBeCloseTo(0.5, 9);
    expect(applyWindow(125, 100, 50, "SIGMOID")).toBeCloseTo(1 / (1 + Math.exp(-2)), 9);
  });
});

describe("decodeRleFrame", () => {
  it("decodes hand-made PackBits segments, most significant byte plane first", () => {
    // 4 pixels of 16 bit: 0x0102, 0x0102, 0x0304, 0xff00.
    // High plane: 01 01 03 ff -> literal run "3: 4 bytes" = [3, 1, 1, 3, 255] (n=3 -> 4 literals).
    // Low plane: 02 02 04 00 -> replicate [-1 -> 2 copies of 2] then literal [1 -> 2 bytes: 4, 0].
    const header = new Uint8Array(64);
    const view = new DataView(header.buffer);
    const high = [3, 1, 1, 3, 255];
    const low = [0xff, 2, 1, 4, 0];
    view.setUint32(0, 2, true);
    view.setUint32(4, 64, true);
    view.setUint32(8, 64 + high.length, true);
    const frame = Uint8Array.from([...header, ...high, ...low]);
    const bytes = decodeRleFrame(frame, 2, 2, 2, 1, "x.dcm");
    const values = new Uint16Array(bytes.buffer, 0, 4);
    expect(Array.from(values)).toEqual([0x0102, 0x0102, 0x0304, 0xff00]);
  });

  it("names the file when a segment is short", () => {
    const header = new Uint8Array(64);
    new DataView(header.buffer).setUint32(0, 1, true);
    new DataView(header.buffer).setUint32(4, 64, true);
    expect(() => decodeRleFrame(Uint8Array.from([...header, 0, 9]), 2, 2, 1, 1, "short.dcm")).toThrow(
      /short\.dcm.*1 of 4/,
    );
  });
});
