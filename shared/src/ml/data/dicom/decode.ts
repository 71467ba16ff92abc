import { createRequire } from "node:module";
import dicomParser from "dicom-parser";
import jpeg from "jpeg-js";
import { ErrorCode, FlError } from "../../../errors.js";
import type { EmscriptenCodecFactory, EmscriptenCodecModule, WasmDecoder } from "./codec-types.js";
import { decodeRleFrame } from "./rle.js";
import { supportedTransferSyntaxes, TRANSFER_SYNTAXES } from "./transfer-syntax.js";

/** The VOI transform a file asks for (PS3.3 C.11.2). */
export interface VoiWindow {
  readonly center: number;
  readonly width: number;
  readonly fn: "LINEAR" | "LINEAR_EXACT" | "SIGMOID";
}

/** A VOI LUT from the VOI LUT Sequence: values below `firstMapped` map to data[0], above to the last. */
export interface VoiLut {
  readonly firstMapped: number;
  readonly bits: number;
  readonly data: readonly number[];
}

/** One decoded frame (the first) of a DICOM image, in modality units. */
export interface DecodedDicom {
  readonly width: number;
  readonly height: number;
  readonly transferSyntax: string;
  readonly photometric: string;
  readonly bitsAllocated: number;
  readonly bitsStored: number;
  readonly pixelRepresentation: number;
  /** Stored values after masking to BitsStored and sign extension. */
  readonly stored: Float32Array;
  /** Stored values after Rescale Slope/Intercept: what VOI operates on. */
  readonly modality: Float32Array;
  readonly window?: VoiWindow;
  readonly voiLut?: VoiLut;
}

/** Header fields the loaders use for grouping and site assignment. */
export interface DicomHeader {
  readonly patientId?: string;
  readonly studyInstanceUid?: string;
  readonly seriesInstanceUid?: string;
  readonly sopInstanceUid?: string;
  readonly institutionName?: string;
  readonly transferSyntax?: string;
}

/** dicom-parser throws strings and objects; turn any of them into a sentence. */
function describeThrown(error: unknown): string {
  if (typeof error === "string") return error;
  if (error instanceof Error) return error.message;
  if (error && typeof error === "object" && "exception" in error)
    return String((error as { exception: unknown }).exception);
  return String(error);
}

function parse(bytes: Uint8Array, file: string, untilTag?: string): dicomParser.DataSet {
  const buffer = Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    return dicomParser.parseDicom(buffer, untilTag ? { untilTag } : undefined);
  } catch (error) {
    throw new FlError(ErrorCode.DataError, `${file}: not a readable DICOM file (${describeThrown(error)})`, {
      cause: error,
    });
  }
}

function text(dataSet: dicomParser.DataSet, tag: string): string | undefined {
  const value = dataSet.string(tag);
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}

/** Reads the identifying header fields, stopping before the pixel data. */
export function readDicomHeader(bytes: Uint8Array, file: string): DicomHeader {
  const dataSet = parse(bytes, file, "x7fe00010");
  const fields: Record<string, string | undefined> = {
    patientId: text(dataSet, "x00100020"),
    studyInstanceUid: text(dataSet, "x0020000d"),
    seriesInstanceUid: text(dataSet, "x0020000e"),
    sopInstanceUid: text(dataSet, "x00080018"),
    institutionName: text(dataSet, "x00080080"),
    transferSyntax: text(dataSet, "x00020010"),
  };
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as DicomHeader;
}

function numberList(dataSet: dicomParser.DataSet, tag: string): number[] {
  const raw = dataSet.string(tag);
  if (raw === undefined) return [];
  return raw
    .split("\\")
    .map((s) => Number.parseFloat(s))
    .filter((n) => Number.isFinite(n));
}

function required(dataSet: dicomParser.DataSet, tag: string, name: string, file: string): number {
  const value = dataSet.uint16(tag);
  if (value === undefined)
    throw new FlError(ErrorCode.DataError, `${file}: missing ${name} (${tag.slice(1)})`);
  return value;
}

/** Decodes the first frame of a DICOM image into modality values, with its VOI settings. */
export async function decodeDicom(bytes: Uint8Array, file: string): Promise<DecodedDicom> {
  const dataSet = parse(bytes, file);
  const transferSyntax = text(dataSet, "x00020010") ?? "1.2.840.10008.1.2";
  const syntax = TRANSFER_SYNTAXES[transferSyntax];
  if (!syntax?.encoding) {
    throw new FlError(
      ErrorCode.Unsupported,
      `${file}: transfer syntax ${transferSyntax} (${syntax?.name ?? "unknown"}) is not supported; ` +
        `supported are ${supportedTransferSyntaxes().join(", ")}. Convert the file to an uncompressed ` +
        "syntax first (e.g. `gdcmconv --raw in.dcm out.dcm` or `dcmdjpeg`).",
    );
  }
  const pixelElement = dataSet.elements.x7fe00010;
  if (!pixelElement)
    throw new FlError(ErrorCode.DataError, `${file}: no Pixel Data (7FE0,0010): not an image`);
  const height = required(dataSet, "x00280010", "Rows", file);
  const width = required(dataSet, "x00280011", "Columns", file);
  const bitsAllocated = required(dataSet, "x00280100", "Bits Allocated", file);
  const bitsStored = dataSet.uint16("x00280101") ?? bitsAllocated;
  const pixelRepresentation = dataSet.uint16("x00280103") ?? 0;
  const samples = dataSet.uint16("x00280002") ?? 1;
  const planar = dataSet.uint16("x00280006") ?? 0;
  const photometric = (text(dataSet, "x00280004") ?? "MONOCHROME2").toUpperCase();
  if (width === 0 || height === 0)
    throw new FlError(ErrorCode.DataError, `${file}: image has zero rows or columns`);
  if (bitsAllocated !== 8 && bitsAllocated !== 16) {
    throw new FlError(
      ErrorCode.Unsupported,
      `${file}: Bits Allocated ${bitsAllocated} is not supported (8 or 16)`,
    );
  }
  if (photometric === "PALETTE COLOR") {
    throw new FlError(
      ErrorCode.Unsupported,
      `${file}: PALETTE COLOR images are not supported for chest X-rays`,
    );
  }

  const frameBytes = await decodeFrameBytes(dataSet, pixelElement, syntax.encoding, {
    width,
    height,
    bitsAllocated,
    samples,
    transferSyntax,
    file,
  });
  const samplesOut =
    syntax.encoding === "jpeg-baseline" || syntax.encoding === "jpeg-extended" ? frameBytes.samples : samples;
  const stored = toStoredValues(frameBytes, {
    width,
    height,
    bitsAllocated: frameBytes.bitsAllocated,
    bitsStored: Math.min(bitsStored, frameBytes.bitsAllocated),
    signed: pixelRepresentation === 1,
    samples: samplesOut,
    planar: frameBytes.forcedInterleaved ? 0 : planar,
    bigEndian: syntax.encoding === "native-be",
    ybr: photometric.startsWith("YBR") && !frameBytes.forcedInterleaved,
    file,
  });
  const slope = numberList(dataSet, "x00281053")[0] ?? 1;
  const intercept = numberList(dataSet, "x00281052")[0] ?? 0;
  const modality = new Float32Array(stored.length);
  for (let i = 0; i < stored.length; i++) modality[i] = (stored[i] as number) * slope + intercept;

  const centers = numberList(dataSet, "x00281050");
  const widths = numberList(dataSet, "x00281051");
  const fnText = (text(dataSet, "x00281056") ?? "LINEAR").toUpperCase();
  const fn: VoiWindow["fn"] =
    fnText === "SIGMOID" ? "SIGMOID" : fnText === "LINEAR_EXACT" ? "LINEAR_EXACT" : "LINEAR";
  const center = centers[0];
  const windowWidth = widths[0];
  const window =
    center !== undefined && windowWidth !== undefined && windowWidth > 0
      ? { center, width: windowWidth, fn }
      : undefined;
  const voiLut = readVoiLut(dataSet);
  return {
    width,
    height,
    transferSyntax,
    photometric,
    bitsAllocated,
    bitsStored,
    pixelRepresentation,
    stored,
    modality,
    ...(window ? { window } : {}),
    ...(voiLut ? { voiLut } : {}),
  };
}

function readVoiLut(dataSet: dicomParser.DataSet): VoiLut | undefined {
  const item = dataSet.elements.x00283010?.items?.[0]?.dataSet;
  if (!item) return undefined;
  const descriptor = item.elements.x00283002;
  const dataElement = item.elements.x00283006;
  if (!descriptor || !dataElement) return undefined;
  const entries = item.uint16("x00283002", 0) || 65536;
  const firstRaw = item.uint16("x00283002", 1) ?? 0;
  const bits = item.uint16("x00283002", 2) ?? 16;
  // The first-mapped value is US or SS depending on the pixel representation; 16 bits either way.
  const firstMapped = firstRaw;
  const data: number[] = [];
  const wide = dataElement.length >= entries * 2;
  for (let k = 0; k < entries; k++) {
    data.push(wide ? (item.uint16("x00283006", k) ?? 0) : (item.byteArray[dataElement.dataOffset + k] ?? 0));
  }
  return { firstMapped, bits, data };
}

interface FrameBytes {
  readonly bytes: Uint8Array;
  readonly bitsAllocated: number;
  readonly samples: number;
  /** Codecs hand back interleaved RGB regardless of Planar Configuration. */
  readonly forcedInterleaved: boolean;
}

interface FrameContext {
  readonly width: number;
  readonly height: number;
  readonly bitsAllocated: number;
  readonly samples: number;
  readonly transferSyntax: string;
  readonly file: string;
}

async function decodeFrameBytes(
  dataSet: dicomParser.DataSet,
  element: dicomParser.Element,
  encoding: NonNullable<(typeof TRANSFER_SYNTAXES)[string]["encoding"]>,
  ctx: FrameContext,
): Promise<FrameBytes> {
  const bytesPerSample = ctx.bitsAllocated / 8;
  const frameLength = ctx.width * ctx.height * ctx.samples * bytesPerSample;
  if (encoding === "native-le" || encoding === "native-be" || encoding === "deflate") {
    if (element.encapsulatedPixelData) {
      throw new FlError(
        ErrorCode.DataError,
        `${ctx.file}: encapsulated pixel data under an uncompressed transfer syntax`,
      );
    }
    const available = dataSet.byteArray.length - element.dataOffset;
    if (element.length < frameLength || available < frameLength) {
      throw new FlError(
        ErrorCode.DataError,
        `${ctx.file}: pixel data is truncated: ${Math.min(element.length, available)} bytes, ` +
          `${ctx.width}x${ctx.height}x${ctx.bitsAllocated} bit needs ${frameLength}`,
      );
    }
    return {
      bytes: new Uint8Array(
        dataSet.byteArray.buffer,
        dataSet.byteArray.byteOffset + element.dataOffset,
        frameLength,
      ),
      bitsAllocated: ctx.bitsAllocated,
      samples: ctx.samples,
      forcedInterleaved: false,
    };
  }
  if (!element.encapsulatedPixelData || !element.fragments || element.fragments.length === 0) {
    throw new FlError(
      ErrorCode.DataError,
      `${ctx.file}: compressed transfer syntax but no encapsulated fragments`,
    );
  }
  let frame: Uint8Array;
  const frames = Number.parseInt(text(dataSet, "x00280008") ?? "1", 10) || 1;
  try {
    if (frames <= 1) {
      frame = dicomParser.readEncapsulatedPixelDataFromFragments(
        dataSet,
        element,
        0,
        element.fragments.length,
      );
    } else if (element.basicOffsetTable && element.basicOffsetTable.length > 0) {
      frame = dicomParser.readEncapsulatedImageFrame(dataSet, element, 0);
    } else if (element.fragments.length === frames) {
      frame = dicomParser.readEncapsulatedPixelDataFromFragments(dataSet, element, 0, 1);
    } else {
      throw new FlError(
        ErrorCode.Unsupported,
        `${ctx.file}: ${frames} compressed frames without a basic offset table; only the first frame of a multi-frame object is read, and it cannot be located`,
      );
    }
  } catch (error) {
    if (error instanceof FlError) throw error;
    throw new FlError(
      ErrorCode.DataError,
      `${ctx.file}: cannot read compressed fragments (${describeThrown(error)})`,
    );
  }
  try {
    return await decodeCompressed(frame, encoding, ctx, frameLength);
  } catch (error) {
    if (error instanceof FlError) throw error;
    throw new FlError(
      ErrorCode.DataError,
      `${ctx.file}: ${TRANSFER_SYNTAXES[ctx.transferSyntax]?.name ?? ctx.transferSyntax} frame does not decode (${describeThrown(error)})`,
      { cause: error },
    );
  }
}

async function decodeCompressed(
  frame: Uint8Array,
  encoding: string,
  ctx: FrameContext,
  frameLength: number,
): Promise<FrameBytes> {
  const bytesPerSample = ctx.bitsAllocated / 8;
  switch (encoding) {
    case "rle": {
      const bytes = decodeRleFrame(frame, ctx.width, ctx.height, bytesPerSample, ctx.samples, ctx.file);
      return { bytes, bitsAllocated: ctx.bitsAllocated, samples: ctx.samples, forcedInterleaved: true };
    }
    case "jpeg-baseline":
    case "jpeg-extended": {
      const precision = jpegPrecision(frame);
      if (precision !== undefined && precision > 8) {
        throw new FlError(
          ErrorCode.Unsupported,
          `${ctx.file}: ${precision}-bit JPEG (transfer syntax ${ctx.transferSyntax}) has no maintained JavaScript decoder; ` +
            "convert the file first (e.g. `gdcmconv --raw in.dcm out.dcm` or `dcmdjpeg`)",
        );
      }
      const decoded = jpeg.decode(frame, { useTArray: true, formatAsRGBA: false, tolerantDecoding: false });
      const samples = decoded.data.length / (decoded.width * decoded.height);
      checkGeometry(decoded.width, decoded.height, ctx);
      return { bytes: decoded.data, bitsAllocated: 8, samples, forcedInterleaved: true };
    }
    case "jpeg-lossless": {
      const { Decoder } = await import("jpeg-lossless-decoder-js");
      // A real copy: the frame may be a view into the whole file's buffer.
      const copy = new Uint8Array(frame);
      const decoded = new Decoder().decode(copy.buffer, 0, copy.byteLength, bytesPerSample);
      const bytes = new Uint8Array(decoded.buffer, decoded.byteOffset, decoded.byteLength);
      if (bytes.byteLength < frameLength) {
        throw new FlError(
          ErrorCode.DataError,
          `${ctx.file}: JPEG Lossless frame decoded to ${bytes.byteLength} of ${frameLength} bytes`,
        );
      }
      return { bytes, bitsAllocated: ctx.bitsAllocated, samples: ctx.samples, forcedInterleaved: true };
    }
    case "jpeg-ls":
    case "jpeg-2000": {
      const codec = await wasmCodec(encoding === "jpeg-ls" ? "charls" : "openjpeg");
      const Ctor = encoding === "jpeg-ls" ? codec.JpegLSDecoder : codec.J2KDecoder;
      if (!Ctor) throw new FlError(ErrorCode.Internal, `codec module for ${encoding} has no decoder`);
      const decoder: WasmDecoder = new Ctor();
      try {
        decoder.getEncodedBuffer(frame.length).set(frame);
        decoder.decode();
        const info = decoder.getFrameInfo();
        checkGeometry(info.width, info.height, ctx);
        const bits = info.bitsPerSample > 8 ? 16 : 8;
        const bytes = decoder.getDecodedBuffer().slice();
        return { bytes, bitsAllocated: bits, samples: info.componentCount, forcedInterleaved: true };
      } finally {
        decoder.delete();
      }
    }
    default:
      throw new FlError(ErrorCode.Unsupported, `${ctx.file}: no decoder for ${encoding}`);
  }
}

/** Sample precision from the first start-of-frame marker (SOF0..SOF3), if found. */
function jpegPrecision(frame: Uint8Array): number | undefined {
  for (let i = 2; i + 4 < frame.length; ) {
    if (frame[i] !== 0xff) return undefined;
    const marker = frame[i + 1] as number;
    if (marker >= 0xc0 && marker <= 0xc3) return frame[i + 4];
    const length = ((frame[i + 2] as number) << 8) | (frame[i + 3] as number);
    i += 2 + length;
  }
  return undefined;
}

function checkGeometry(width: number, height: number, ctx: FrameContext): void {
  if (width !== ctx.width || height !== ctx.height) {
    throw new FlError(
      ErrorCode.DataError,
      `${ctx.file}: compressed frame is ${width}x${height} but the header says ${ctx.width}x${ctx.height}`,
    );
  }
}

const require = createRequire(import.meta.url);
const codecs = new Map<string, Promise<EmscriptenCodecModule>>();

/**
 * Loads a cornerstone WASM codec once per process.
 * @internal Exported for the decoding test, which encodes its JPEG-LS/JPEG 2000 fixtures with it.
 */
export function wasmCodec(name: "charls" | "openjpeg"): Promise<EmscriptenCodecModule> {
  let pending = codecs.get(name);
  if (!pending) {
    const factory = require(
      name === "charls" ? "@cornerstonejs/codec-charls/wasmjs" : "@cornerstonejs/codec-openjpeg/wasmjs",
    ) as EmscriptenCodecFactory;
    pending = factory();
    codecs.set(name, pending);
  }
  return pending;
}

interface StoredContext {
  readonly width: number;
  readonly height: number;
  readonly bitsAllocated: number;
  readonly bitsStored: number;
  readonly signed: boolean;
  readonly samples: number;
  readonly planar: number;
  readonly bigEndian: boolean;
  readonly ybr: boolean;
  readonly file: string;
}

/** Raw bytes to one grey value per pixel: bit masking, sign extension, colour to luminance. */
function toStoredValues(frame: FrameBytes, ctx: StoredContext): Float32Array {
  const pixels = ctx.width * ctx.height;
  const bytes = frame.bytes;
  const bytesPerSample = ctx.bitsAllocated / 8;
  const needed = pixels * ctx.samples * bytesPerSample;
  if (bytes.byteLength < needed) {
    throw new FlError(
      ErrorCode.DataError,
      `${ctx.file}: decoded frame has ${bytes.byteLength} bytes, needs ${needed}`,
    );
  }
  const mask = ctx.bitsStored >= 32 ? 0xffffffff : 2 ** ctx.bitsStored - 1;
  const signBit = 2 ** (ctx.bitsStored - 1);
  const sample = (index: number): number => {
    let raw: number;
    if (bytesPerSample === 1) raw = bytes[index] as number;
    else {
      const a = bytes[index * 2] as number;
      const b = bytes[index * 2 + 1] as number;
      raw = ctx.bigEndian ? (a << 8) | b : a | (b << 8);
    }
    raw &= mask;
    return ctx.signed && raw >= signBit ? raw - 2 * signBit : raw;
  };
  const out = new Float32Array(pixels);
  if (ctx.samples === 1) {
    for (let i = 0; i < pixels; i++) out[i] = sample(i);
    return out;
  }
  for (let i = 0; i < pixels; i++) {
    const at = (c: number): number =>
      ctx.planar === 1 ? sample(c * pixels + i) : sample(i * ctx.samples + c);
    // YBR keeps luminance in its first channel; RGB is weighted (ITU-R BT.601).
    out[i] = ctx.ybr ? at(0) : 0.299 * at(0) + 0.587 * at(1) + 0.114 * at(2);
  }
  return out;
}

/**
 * Modality values to display values in [0, 1]: the VOI LUT if present, else the first window
 * (LINEAR, LINEAR_EXACT or SIGMOID), else the image's own min..max; MONOCHROME1 is inverted so
 * that bone is always bright.
 */
export function dicomToDisplay(decoded: DecodedDicom): Float32Array {
  const values = decoded.modality;
  const out = new Float32Array(values.length);
  if (decoded.voiLut && decoded.voiLut.data.length > 0) {
    const { firstMapped, data } = decoded.voiLut;
    let maxEntry = 0;
    for (const d of data) if (d > maxEntry) maxEntry = d;
    const top = maxEntry > 0 ? maxEntry : 1;
    const last = data.length - 1;
    for (let i = 0; i < values.length; i++) {
      const k = Math.round((values[i] as number) - firstMapped);
      out[i] = (data[Math.min(last, Math.max(0, k))] as number) / top;
    }
  } else if (decoded.window) {
    const { center: c, width: w, fn } = decoded.window;
    for (let i = 0; i < values.length; i++) out[i] = applyWindow(values[i] as number, c, w, fn);
  } else {
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < values.length; i++) {
      const v = values[i] as number;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const range = max > min ? max - min : 1;
    for (let i = 0; i < values.length; i++) out[i] = ((values[i] as number) - min) / range;
  }
  if (decoded.photometric === "MONOCHROME1")
    for (let i = 0; i < out.length; i++) out[i] = 1 - (out[i] as number);
  return out;
}

/**
 * PS3.3 C.11.2.1.2: the VOI window functions, output in [0, 1].
 * @internal Exported for its unit tests against the standard's formulas.
 */
export function applyWindow(x: number, c: number, w: number, fn: VoiWindow["fn"]): number {
  if (fn === "SIGMOID") return 1 / (1 + Math.exp((-4 * (x - c)) / w));
  if (fn === "LINEAR_EXACT") {
    if (x <= c - w / 2) return 0;
    if (x > c + w / 2) return 1;
    return (x - c) / w + 0.5;
  }
  if (w <= 1) return x <= c - 0.5 ? 0 : 1;
  if (x <= c - 0.5 - (w - 1) / 2) return 0;
  if (x > c - 0.5 + (w - 1) / 2) return 1;
  return (x - (c - 0.5)) / (w - 1) + 0.5;
}
