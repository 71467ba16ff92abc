import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import jpeg from "jpeg-js";
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode, isFlError } from "../../../../../shared/src/errors.js";
import {
  applyWindow,
  decodeDicom,
  dicomToDisplay,
  readDicomHeader,
  wasmCodec,
} from "../../../../../shared/src/ml/data/dicom/decode.js";
import { decodeImage } from "../../../../../shared/src/ml/data/image/decode.js";
import { loadPreprocessed } from "../../../../../shared/src/ml/data/loaders/preprocess.js";
import { be16, le16, rleEncode, writeFixture } from "../../../../fixtures/data/dcmjs-writer.js";
import { encodeLosslessJpeg } from "../../../../fixtures/data/lossless-jpeg.js";

const EXPLICIT = "1.2.840.10008.1.2.1";
const IMPLICIT = "1.2.840.10008.1.2";
const dir = mkdtempSync(join(tmpdir(), "fl-dicom-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A 4x5 ramp with a few extreme values, so min/max, masks and signs all matter. */
const RAMP = Array.from({ length: 20 }, (_, i) => i * 37 + 5);

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

describe("DICOM decoding of dcmjs-written files", () => {
  it("explicit VR LE, 16 bit: rescale slope/intercept give modality values, min/max without a window", async () => {
    const file = writeFixture({
      transferSyntax: EXPLICIT,
      rows: 4,
      columns: 5,
      bitsAllocated: 16,
      rescaleSlope: 2,
      rescaleIntercept: -100,
      pixelData: le16(RAMP),
    });
    const decoded = await decodeDicom(file, "ramp.dcm");
    expect(decoded.width).toBe(5);
    expect(decoded.height).toBe(4);
    expect(Array.from(decoded.stored)).toEqual(RAMP);
    expect(Array.from(decoded.modality)).toEqual(RAMP.map((v) => v * 2 - 100));
    const display = dicomToDisplay(decoded);
    const min = 5 * 2 - 100;
    const max = (19 * 37 + 5) * 2 - 100;
    RAMP.forEach((v, i) => {
      expect(display[i]).toBeCloseTo((v * 2 - 100 - min) / (max - min), 6);
    });
  });

  it("implicit VR LE, 12 of 16 bits stored: bits above HighBit are ignored", async () => {
    const junk = RAMP.map((v) => v | 0xf000);
    const file = writeFixture({
      transferSyntax: IMPLICIT,
      rows: 4,
      columns: 5,
      bitsAllocated: 16,
      bitsStored: 12,
      pixelData: le16(junk),
    });
    const decoded = await decodeDicom(file, "masked.dcm");
    expect(Array.from(decoded.stored)).toEqual(RAMP.map((v) => v & 0x0fff));
  });

  it("signed pixels (PixelRepresentation 1) keep their sign", async () => {
    const values = [-1000, -1, 0, 1, 32767, -32768];
    const file = writeFixture({
      transferSyntax: EXPLICIT,
      rows: 2,
      columns: 3,
      bitsAllocated: 16,
      pixelRepresentation: 1,
      rescaleSlope: 1,
      rescaleIntercept: 24,
      pixelData: le16(values),
    });
    const decoded = await decodeDicom(file, "signed.dcm");
    expect(Array.from(decoded.modality)).toEqual(values.map((v) => v + 24));
  });

  it("8 bit MONOCHROME1 with a window: the VOI window, then inverted", async () => {
    const values = [0, 10, 60, 100, 128, 200, 250, 255];
    const file = writeFixture({
      transferSyntax: EXPLICIT,
      rows: 2,
      columns: 4,
      bitsAllocated: 8,
      photometric: "MONOCHROME1",
      windowCenter: 128,
      windowWidth: 101,
      pixelData: Uint8Array.from(values),
    });
    const decoded = await decodeDicom(file, "mono1.dcm");
    expect(decoded.photometric).toBe("MONOCHROME1");
    expect(decoded.window).toEqual({ center: 128, width: 101, fn: "LINEAR" });
    const display = dicomToDisplay(decoded);
    values.forEach((v, i) => {
      // PS3.3 C.11.2.1.2.1 by hand: c - 0.5 - (w - 1) / 2 = 77.5, c - 0.5 + (w - 1) / 2 = 177.5.
      const linear = v <= 77.5 ? 0 : v > 177.5 ? 1 : (v - 127.5) / 100 + 0.5;
      expect(display[i]).toBeCloseTo(1 - linear, 6);
    });
  });

  it("SIGMOID VOI function", async () => {
    const file = writeFixture({
      transferSyntax: EXPLICIT,
      rows: 1,
      columns: 4,
      bitsAllocated: 16,
      windowCenter: 1000,
      windowWidth: 400,
      voiLutFunction: "SIGMOID",
      pixelData: le16([800, 1000, 1100, 1400]),
    });
    const display = dicomToDisplay(await decodeDicom(file, "sigmoid.dcm"));
    for (const [i, v] of [800, 1000, 1100, 1400].entries()) {
      expect(display[i]).toBeCloseTo(1 / (1 + Math.exp((-4 * (v - 1000)) / 400)), 6);
    }
  });

  it("explicit VR big endian (retired) byte-swaps pixels", async () => {
    const file = writeFixture({
      transferSyntax: "1.2.840.10008.1.2.2",
      rows: 4,
      columns: 5,
      bitsAllocated: 16,
      pixelData: be16(RAMP),
    });
    expect(Array.from((await decodeDicom(file, "be.dcm")).stored)).toEqual(RAMP);
  });

  it("deflated explicit VR LE", async () => {
    const file = writeFixture({
      transferSyntax: "1.2.840.10008.1.2.1.99",
      rows: 4,
      columns: 5,
      bitsAllocated: 16,
      pixelData: le16(RAMP),
    });
    expect(Array.from((await decodeDicom(file, "deflate.dcm")).stored)).toEqual(RAMP);
  });

  it("RGB (planar and interleaved) becomes BT.601 luminance", async () => {
    const r = [255, 0];
    const g = [0, 255];
    const b = [0, 0];
    for (const planar of [0, 1]) {
      const bytes = planar ? [...r, ...g, ...b] : [r[0], g[0], b[0], r[1], g[1], b[1]];
      const file = writeFixture({
        transferSyntax: EXPLICIT,
        rows: 1,
        columns: 2,
        bitsAllocated: 8,
        samplesPerPixel: 3,
        planarConfiguration: planar,
        photometric: "RGB",
        pixelData: Uint8Array.from(bytes as number[]),
      });
      const decoded = await decodeDicom(file, "rgb.dcm");
      expect(decoded.stored[0]).toBeCloseTo(0.299 * 255, 3);
      expect(decoded.stored[1]).toBeCloseTo(0.587 * 255, 3);
    }
  });

  it("RLE Lossless (encoded by the test)", async () => {
    const values = Array.from({ length: 300 }, (_, i) => (i * 211) % 4096);
    const file = writeFixture({
      transferSyntax: "1.2.840.10008.1.2.5",
      rows: 15,
      columns: 20,
      bitsAllocated: 16,
      bitsStored: 12,
      pixelData: rleEncode(values, 2),
    });
    expect(Array.from((await decodeDicom(file, "rle.dcm")).stored)).toEqual(values);
  });

  it("JPEG Lossless SV1 (encoded by the test)", async () => {
    const values = Array.from({ length: 12 * 10 }, (_, i) => (i * 97 + ((i * i) % 13)) % 4096);
    const file = writeFixture({
      transferSyntax: "1.2.840.10008.1.2.4.70",
      rows: 10,
      columns: 12,
      bitsAllocated: 16,
      bitsStored: 12,
      pixelData: encodeLosslessJpeg(values, 12, 10, 12),
    });
    expect(Array.from((await decodeDicom(file, "jpegll.dcm")).stored)).toEqual(values);
  });

  it("JPEG-LS lossless (CharLS encoder)", async () => {
    const codec = await wasmCodec("charls");
    const values = Array.from({ length: 16 * 8 }, (_, i) => (i * 523) % 16384);
    const encoder = new (codec.JpegLSEncoder as NonNullable<typeof codec.JpegLSEncoder>)();
    encoder
      .getDecodedBuffer({ width: 16, height: 8, bitsPerSample: 14, componentCount: 1 })
      .set(le16(values));
    encoder.encode();
    const frame = encoder.getEncodedBuffer().slice();
    encoder.delete();
    const file = writeFixture({
      transferSyntax: "1.2.840.10008.1.2.4.80",
      rows: 8,
      columns: 16,
      bitsAllocated: 16,
      bitsStored: 14,
      pixelData: frame,
    });
    expect(Array.from((await decodeDicom(file, "jls.dcm")).stored)).toEqual(values);
  });

  it("JPEG 2000 lossless (OpenJPEG encoder)", async () => {
    const codec = await wasmCodec("openjpeg");
    const values = Array.from({ length: 16 * 16 }, (_, i) => (i * 331) % 4096);
    const encoder = new (codec.J2KEncoder as NonNullable<typeof codec.J2KEncoder>)();
    encoder.setDecompositions?.(2);
    encoder
      .getDecodedBuffer({ width: 16, height: 16, bitsPerSample: 12, componentCount: 1, isSigned: false })
      .set(le16(values));
    encoder.encode();
    const frame = encoder.getEncodedBuffer().slice();
    encoder.delete();
    const file = writeFixture({
      transferSyntax: "1.2.840.10008.1.2.4.90",
      rows: 16,
      columns: 16,
      bitsAllocated: 16,
      bitsStored: 12,
      pixelData: frame,
    });
    expect(Array.from((await decodeDicom(file, "j2k.dcm")).stored)).toEqual(values);
  });

  it("JPEG baseline (jpeg-js encoder; lossy, so within a few grey levels)", async () => {
    const width = 16;
    const height = 16;
    const grey = Array.from({ length: width * height }, (_, i) =>
      Math.round(((i % width) / (width - 1)) * 200 + 20),
    );
    const rgba = Buffer.alloc(width * height * 4);
    grey.forEach((v, i) => {
      rgba.set([v, v, v, 255], i * 4);
    });
    const frame = jpeg.encode({ data: rgba, width, height }, 95).data;
    const file = writeFixture({
      transferSyntax: "1.2.840.10008.1.2.4.50",
      rows: height,
      columns: width,
      bitsAllocated: 8,
      samplesPerPixel: 3,
      photometric: "YBR_FULL_422",
      pixelData: frame,
    });
    const decoded = await decodeDicom(file, "baseline.dcm");
    grey.forEach((v, i) => {
      expect(Math.abs((decoded.stored[i] as number) - v)).toBeLessThanOrEqual(6);
    });
  });

  it("12-bit JPEG Extended is refused by name, not mis-decoded", async () => {
    // SOI, then a SOF1 segment declaring 12-bit precision.
    const frame = Uint8Array.from([
      0xff, 0xd8, 0xff, 0xc1, 0x00, 0x0b, 12, 0, 2, 0, 2, 1, 1, 0x11, 0, 0xff, 0xd9,
    ]);
    const file = writeFixture({
      transferSyntax: "1.2.840.10008.1.2.4.51",
      rows: 2,
      columns: 2,
      bitsAllocated: 16,
      bitsStored: 12,
      pixelData: frame,
    });
    const error = await rejection(decodeDicom(file, "ext12.dcm"));
    expect(isFlError(error, ErrorCode.Unsupported)).toBe(true);
    expect((error as Error).message).toMatch(/ext12\.dcm: 12-bit JPEG/);
  });

  it("multi-frame objects: the first frame is read", async () => {
    const first = Array.from({ length: 6 }, (_, i) => i + 1);
    const second = Array.from({ length: 6 }, (_, i) => 100 + i);
    const native = writeFixture({
      transferSyntax: EXPLICIT,
      rows: 2,
      columns: 3,
      bitsAllocated: 16,
      pixelData: le16([...first, ...second]),
      extra: { NumberOfFrames: 2 },
    });
    expect(Array.from((await decodeDicom(native, "multi.dcm")).stored)).toEqual(first);
  });

  it("names the file and the syntax for transfer syntaxes without a codec", async () => {
    const file = writeFixture({
      transferSyntax: "1.2.840.10008.1.2.4.201",
      rows: 2,
      columns: 2,
      bitsAllocated: 16,
      pixelData: Uint8Array.from([0xff, 0x4f, 0xff, 0x51]),
    });
    const error = await rejection(decodeDicom(file, "/data/htj2k.dcm"));
    expect(isFlError(error, ErrorCode.Unsupported)).toBe(true);
    expect((error as Error).message).toMatch(
      /\/data\/htj2k\.dcm.*1\.2\.840\.10008\.1\.2\.4\.201.*High-Throughput JPEG 2000/,
    );
  });

  it("reports truncated pixel data and garbage with the file name", async () => {
    const file = writeFixture({
      transferSyntax: EXPLICIT,
      rows: 64,
      columns: 64,
      bitsAllocated: 16,
      pixelData: le16(new Array(4096).fill(7)),
    });
    const truncated = await rejection(decodeDicom(file.subarray(0, file.length - 3000), "cut.dcm"));
    expect(isFlError(truncated, ErrorCode.DataError)).toBe(true);
    expect((truncated as Error).message).toMatch(/cut\.dcm/);
    const garbage = Buffer.concat([
      Buffer.alloc(128),
      Buffer.from("DICM"),
      Buffer.from([1, 2, 3, 4, 5, 6, 7]),
    ]);
    const error = await rejection(decodeDicom(garbage, "junk.dcm"));
    expect(isFlError(error, ErrorCode.DataError)).toBe(true);
    expect((error as Error).message).toMatch(/junk\.dcm/);
  });

  it("reads identifying header fields without the pixels", () => {
    const file = writeFixture({
      transferSyntax: IMPLICIT,
      rows: 4,
      columns: 5,
      bitsAllocated: 16,
      pixelData: le16(RAMP),
    });
    expect(readDicomHeader(file.subarray(0, file.length - 40), "h.dcm")).toMatchObject({
      patientId: "PAT-1",
      studyInstanceUid: "1.2.826.0.1.3680043.10.1457.99.2",
      institutionName: "Fixture Hospital",
      transferSyntax: IMPLICIT,
    });
  });
});

describe("image files and the preprocessing cache", () => {
  it("decodes DICOM through decodeImage and resizes with the cache keyed by content and parameters", async () => {
    const values = Array.from({ length: 64 }, (_, i) => i * 16);
    const path = join(dir, "cache-me.dcm");
    writeFileSync(
      path,
      writeFixture({
        transferSyntax: EXPLICIT,
        rows: 8,
        columns: 8,
        bitsAllocated: 16,
        windowCenter: 512,
        windowWidth: 1024,
        pixelData: le16(values),
      }),
    );
    const grey = await decodeImage(
      writeFixture({
        transferSyntax: EXPLICIT,
        rows: 8,
        columns: 8,
        bitsAllocated: 16,
        windowCenter: 512,
        windowWidth: 1024,
        pixelData: le16(values),
      }),
      "x.dcm",
    );
    values.forEach((v, i) => {
      expect(grey.pixels[i]).toBeCloseTo(applyWindow(v, 512, 1024, "LINEAR"), 6);
    });
    const cache = join(dir, "cache");
    const first = await loadPreprocessed(path, { size: 4, resize: "stretch" }, cache);
    const second = await loadPreprocessed(path, { size: 4, resize: "stretch" }, cache);
    const other = await loadPreprocessed(path, { size: 2, resize: "stretch" }, cache);
    expect(first.fromCache).toBe(false);
    expect(second.fromCache).toBe(true);
    expect(other.fromCache).toBe(false);
    expect(Array.from(second.image)).toEqual(Array.from(first.image));
    expect([second.width, second.height]).toEqual([8, 8]);
    // Each output pixel is the mean of a 2x2 block of windowed values.
    const at = (x: number, y: number) => applyWindow(values[y * 8 + x] as number, 512, 1024, "LINEAR");
    expect(first.image[0]).toBeCloseTo((at(0, 0) + at(1, 0) + at(0, 1) + at(1, 1)) / 4, 5);
  });
});
