// Colour DICOM files with known pixels, written with dcmjs (not the loader's parser), checked
// against BT.601 luma computed here. pydicom's own test files (SC_rgb_jpeg_app14_dcmd.dcm and
// friends) cannot be fetched offline; these files reproduce the three ways they were mis-decoded.
import jpeg from "jpeg-js";
import { describe, expect, it } from "vitest";
import { ErrorCode, FlError } from "../../../../../shared/src/errors.js";
import { decodeDicom } from "../../../../../shared/src/ml/data/dicom/decode.js";
import { decodeImage } from "../../../../../shared/src/ml/data/image/decode.js";
import { rleEncode, writeFixture } from "../../../../fixtures/data/dcmjs-writer.js";

const EXPLICIT = "1.2.840.10008.1.2.1";
const BASELINE = "1.2.840.10008.1.2.4.50";

const luma = (r: number, g: number, b: number): number => 0.299 * r + 0.587 * g + 0.114 * b;
/** PS3.3 C.7.6.3.1.2, the full-range YCbCr of YBR_FULL (and of JFIF). */
const ycbcr = (r: number, g: number, b: number): [number, number, number] => [
  0.299 * r + 0.587 * g + 0.114 * b,
  -0.168736 * r - 0.331264 * g + 0.5 * b + 128,
  0.5 * r - 0.418688 * g - 0.081312 * b + 128,
];

// Two flat 8x8 blocks (red, blue): JPEG keeps flat blocks to within a grey level or so.
const WIDTH = 16;
const HEIGHT = 8;
const COLOURS: [number, number, number][] = [
  [255, 0, 0],
  [0, 0, 255],
];
const colourAt = (i: number): [number, number, number] =>
  COLOURS[i % WIDTH < 8 ? 0 : 1] as [number, number, number];

/**
 * A jpeg-js JFIF stream of the test image, its marker segments edited: jpeg-js always encodes
 * YCbCr. With the JFIF marker removed and Adobe transform 0 added, the same stream declares its
 * three channels to be R, G and B: a correct decoder hands back the encoded Y, Cb, Cr as R, G, B.
 */
function jpegOfImage(markers: { jfif: boolean; adobeTransform?: number }): Uint8Array {
  const rgba = Buffer.alloc(WIDTH * HEIGHT * 4);
  for (let i = 0; i < WIDTH * HEIGHT; i++) rgba.set([...colourAt(i), 255], i * 4);
  const encoded = Buffer.from(jpeg.encode({ data: rgba, width: WIDTH, height: HEIGHT }, 100).data);
  expect(encoded.subarray(2, 4)).toEqual(Buffer.from([0xff, 0xe0])); // APP0 JFIF follows SOI
  const app0Length = encoded.readUInt16BE(4);
  const rest = encoded.subarray(4 + app0Length);
  const parts: Buffer[] = [encoded.subarray(0, 2)];
  if (markers.jfif) parts.push(encoded.subarray(2, 4 + app0Length));
  if (markers.adobeTransform !== undefined) {
    const adobe = Buffer.alloc(16);
    adobe.set([0xff, 0xee, 0x00, 14]);
    adobe.write("Adobe", 4, "latin1");
    adobe.writeUInt16BE(100, 9); // version
    adobe[15] = markers.adobeTransform;
    parts.push(adobe);
  }
  parts.push(rest);
  return Buffer.concat(parts);
}

function jpegDicom(photometric: string, frame: Uint8Array): Buffer {
  return writeFixture({
    transferSyntax: BASELINE,
    rows: HEIGHT,
    columns: WIDTH,
    bitsAllocated: 8,
    samplesPerPixel: 3,
    photometric,
    pixelData: frame,
  });
}

/** Grey of each pixel when the stream's channels are taken as they are (no colour transform). */
const untransformedGrey = (i: number): number => luma(...ycbcr(...colourAt(i)));
/** Grey of each pixel when the stream is YCbCr and converted back: the original image's luma. */
const originalGrey = (i: number): number => luma(...colourAt(i));

function expectGrey(stored: Float32Array, expected: (i: number) => number, tolerance: number): void {
  expect(stored.length).toBe(WIDTH * HEIGHT);
  for (let i = 0; i < stored.length; i++) {
    expect(Math.abs((stored[i] as number) - expected(i)), `pixel ${i}`).toBeLessThanOrEqual(tolerance);
  }
}

async function rejection(promise: Promise<unknown>): Promise<FlError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof FlError) return error;
    throw error;
  }
  throw new Error("expected a rejection");
}

describe("colour JPEG in DICOM: the colour transform the file declares", () => {
  // The two expectations differ by 26 (red) and 142 (blue) grey levels: a wrong choice cannot pass.
  it("the expectations are far apart", () => {
    expect(Math.abs(untransformedGrey(0) - originalGrey(0))).toBeGreaterThan(20);
    expect(Math.abs(untransformedGrey(8) - originalGrey(8))).toBeGreaterThan(100);
  });

  it("RGB with Adobe APP14 transform 0 (as dcmtk +cr writes) is not YCbCr-converted", async () => {
    const decoded = await decodeDicom(
      jpegDicom("RGB", jpegOfImage({ jfif: false, adobeTransform: 0 })),
      "app14.dcm",
    );
    expectGrey(decoded.stored, untransformedGrey, 2);
  });

  it("RGB without any colour marker is not converted: Photometric Interpretation RGB means no transform", async () => {
    const decoded = await decodeDicom(jpegDicom("RGB", jpegOfImage({ jfif: false })), "no-marker.dcm");
    expectGrey(decoded.stored, untransformedGrey, 2);
  });

  it("an Adobe marker saying YCbCr (transform 1) is converted even when the header says RGB", async () => {
    const decoded = await decodeDicom(
      jpegDicom("RGB", jpegOfImage({ jfif: false, adobeTransform: 1 })),
      "app14-1.dcm",
    );
    expectGrey(decoded.stored, originalGrey, 2);
  });

  it("YBR_FULL_422 JFIF streams are converted", async () => {
    const decoded = await decodeDicom(jpegDicom("YBR_FULL_422", jpegOfImage({ jfif: true })), "ybr.dcm");
    expectGrey(decoded.stored, originalGrey, 2);
  });

  it("a plain JPEG file with Adobe transform 0 is read as RGB, an unmarked one as JFIF YCbCr", async () => {
    const rgb = await decodeImage(jpegOfImage({ jfif: false, adobeTransform: 0 }), "rgb.jpg");
    expectGrey(
      Float32Array.from(rgb.pixels, (v) => v * 255),
      untransformedGrey,
      2,
    );
    const jfif = await decodeImage(jpegOfImage({ jfif: false }), "plain.jpg");
    expectGrey(
      Float32Array.from(jfif.pixels, (v) => v * 255),
      originalGrey,
      2,
    );
  });
});

describe("uncompressed and RLE YBR", () => {
  // 4x2 pixels of distinct colours.
  const rgb: [number, number, number][] = [
    [255, 0, 0],
    [0, 255, 0],
    [0, 0, 255],
    [255, 255, 255],
    [10, 20, 30],
    [200, 100, 50],
    [0, 0, 0],
    [128, 64, 255],
  ];
  const ybr = rgb.map((c) => ycbcr(...c).map((v) => Math.min(255, Math.max(0, Math.round(v)))));

  it("YBR_FULL_422: two luma samples and one chroma pair per pixel pair, grey is the luma", async () => {
    // PS3.3 C.7.6.3.1.2: Y1 Y2 Cb Cr for each horizontal pair, the chroma averaged over the pair.
    const bytes: number[] = [];
    for (let p = 0; p < rgb.length; p += 2) {
      const [a, b] = [ybr[p] as number[], ybr[p + 1] as number[]];
      bytes.push(a[0] as number, b[0] as number);
      bytes.push(Math.round(((a[1] as number) + (b[1] as number)) / 2));
      bytes.push(Math.round(((a[2] as number) + (b[2] as number)) / 2));
    }
    const file = writeFixture({
      transferSyntax: EXPLICIT,
      rows: 2,
      columns: 4,
      bitsAllocated: 8,
      samplesPerPixel: 3,
      planarConfiguration: 0,
      photometric: "YBR_FULL_422",
      pixelData: Uint8Array.from(bytes),
    });
    expect(bytes.length).toBe(2 * 4 * 2); // not rows x columns x 3
    const decoded = await decodeDicom(file, "ybr422.dcm");
    rgb.forEach((c, i) => {
      expect(Math.abs((decoded.stored[i] as number) - luma(...c)), `pixel ${i}`).toBeLessThanOrEqual(0.5);
    });
  });

  it("YBR_FULL_422 with an odd number of columns is refused with the reason", async () => {
    const file = writeFixture({
      transferSyntax: EXPLICIT,
      rows: 1,
      columns: 3,
      bitsAllocated: 8,
      samplesPerPixel: 3,
      photometric: "YBR_FULL_422",
      pixelData: new Uint8Array(6),
    });
    const error = await rejection(decodeDicom(file, "odd.dcm"));
    expect(error.code).toBe(ErrorCode.Unsupported);
    expect(error.message).toMatch(/odd\.dcm: .*YBR_FULL_422 needs an even number of columns/);
  });

  it("RLE YBR_FULL: grey is the first channel, not RGB weights applied to Y, Cb, Cr", async () => {
    // RLE segments are per sample: encode each channel as its own byte plane.
    const planes = [0, 1, 2].map((c) => ybr.map((v) => v[c] as number));
    const segments = planes.map((plane) => rleEncode(plane, 1).subarray(64));
    const header = Buffer.alloc(64);
    header.writeUInt32LE(3, 0);
    let offset = 64;
    segments.forEach((segment, s) => {
      header.writeUInt32LE(offset, 4 + 4 * s);
      offset += segment.length;
    });
    const file = writeFixture({
      transferSyntax: "1.2.840.10008.1.2.5",
      rows: 2,
      columns: 4,
      bitsAllocated: 8,
      samplesPerPixel: 3,
      photometric: "YBR_FULL",
      pixelData: Buffer.concat([header, ...segments]),
    });
    const decoded = await decodeDicom(file, "rle-ybr.dcm");
    expect(Array.from(decoded.stored)).toEqual(ybr.map((v) => v[0]));
  });

  it("limited-range and unknown colour models are refused by name, not guessed", async () => {
    for (const photometric of ["YBR_PARTIAL_422", "HSV", "YBR_ICT"]) {
      const file = writeFixture({
        transferSyntax: EXPLICIT,
        rows: 1,
        columns: 2,
        bitsAllocated: 8,
        samplesPerPixel: 3,
        photometric,
        pixelData: new Uint8Array(6),
      });
      const error = await rejection(decodeDicom(file, "colour.dcm"));
      expect(error.code).toBe(ErrorCode.Unsupported);
      expect(error.message).toContain(`Photometric Interpretation ${photometric}`);
    }
  });
});
