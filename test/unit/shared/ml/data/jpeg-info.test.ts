import { describe, expect, it } from "vitest";
import { readJpegStreamInfo, streamIsYcbcr } from "../../../../../shared/src/ml/data/image/jpeg-info.js";

/** SOI, the given segments, SOF0 (8 bit, 300 rows, 200 columns, three components), SOS. */
function stream(ids: readonly number[], ...segments: number[][]): Uint8Array {
  const sof = [0xff, 0xc0, 0, 8 + 3 * ids.length, 8, 0x01, 0x2c, 0x00, 0xc8, ids.length];
  for (const id of ids) sof.push(id, 0x11, 0);
  return Uint8Array.from([0xff, 0xd8, ...segments.flat(), ...sof, 0xff, 0xda, 0, 2]);
}
const JFIF = [0xff, 0xe0, 0, 7, 0x4a, 0x46, 0x49, 0x46, 0];
const adobe = (transform: number) => [
  0xff,
  0xee,
  0,
  14,
  0x41,
  0x64,
  0x6f,
  0x62,
  0x65,
  0,
  100,
  0,
  0,
  0,
  0,
  transform,
];

describe("readJpegStreamInfo", () => {
  it("reads the frame geometry before any scan, skipping fill bytes", () => {
    const bytes = stream([1, 2, 3], [0xff, 0xff]);
    expect(readJpegStreamInfo(bytes)).toEqual({
      sof: 0xc0,
      precision: 8,
      height: 300,
      width: 200,
      componentIds: [1, 2, 3],
      jfif: false,
    });
  });

  it("is undefined for a stream cut inside a segment or without a frame header", () => {
    const bytes = stream([1, 2, 3]);
    expect(readJpegStreamInfo(bytes.subarray(0, 8))).toBeUndefined();
    expect(readJpegStreamInfo(Uint8Array.from([0xff, 0xd8, 0xff, 0xda, 0, 2]))).toBeUndefined();
    expect(readJpegStreamInfo(Uint8Array.from([0x89, 0x50, 0x4e, 0x47]))).toBeUndefined();
  });
});

describe("streamIsYcbcr: what the stream itself says about its colour", () => {
  it("Adobe decides, then JFIF, then component ids R, G, B; otherwise it does not say", () => {
    const info = (ids: number[], ...segments: number[][]) => {
      const parsed = readJpegStreamInfo(stream(ids, ...segments));
      if (!parsed) throw new Error("test stream does not parse");
      return parsed;
    };
    expect(streamIsYcbcr(info([1, 2, 3], JFIF, adobe(0)))).toBe(false);
    expect(streamIsYcbcr(info([0x52, 0x47, 0x42], adobe(1)))).toBe(true);
    expect(streamIsYcbcr(info([0x52, 0x47, 0x42], JFIF))).toBe(true);
    expect(streamIsYcbcr(info([0x52, 0x47, 0x42]))).toBe(false);
    expect(streamIsYcbcr(info([1, 2, 3]))).toBeUndefined();
  });
});
