import { createRequire } from "node:module";
import { inflateRawSync, constants as zlibConstants } from "node:zlib";
import dicomParser from "dicom-parser";
import jpeg from "jpeg-js";
import { ErrorCode, FlError, isFlError } from "../../../errors.js";
import {
  type JpegStreamInfo,
  jpegMemoryOptions,
  readJpegStreamInfo,
  streamIsYcbcr,
} from "../image/jpeg-info.js";
import {
  checkDecodedSize,
  DEFAULT_DECODE_LIMITS,
  type DecodeLimits,
  defaultFrameTimeoutMs,
} from "../image/limits.js";
import type { EmscriptenCodecFactory, EmscriptenCodecModule } from "./codec-types.js";
import { decodeRleFrame } from "./rle.js";
import { type PixelEncoding, supportedTransferSyntaxes, TRANSFER_SYNTAXES } from "./transfer-syntax.js";
import { decodeWasmFrame } from "./wasm-decode.js";

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

type Inflater = (byteArray: Uint8Array, position: number) => Uint8Array;

function parse(
  bytes: Uint8Array,
  file: string,
  options: { untilTag?: string; inflater: Inflater },
): dicomParser.DataSet {
  const buffer = Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    return dicomParser.parseDicom(buffer, {
      ...(options.untilTag ? { untilTag: options.untilTag } : {}),
      // Without an inflater dicom-parser inflates a deflated dataset whole, however large.
      inflater: options.inflater,
    } as dicomParser.ParseDicomOptions);
  } catch (error) {
    if (error instanceof FlError) throw error;
    throw new FlError(ErrorCode.DataError, `${file}: not a readable DICOM file (${describeThrown(error)})`, {
      cause: error,
    });
  }
}

/** A deflated dataset's elements before the pixel data may inflate to this much, no more. */
const MAX_HEADER_INFLATED_BYTES = 16 * 2 ** 20;
/** Elements after the pixel data (padding, signatures) a deflated dataset may carry. */
const TRAILER_ALLOWANCE_BYTES = 2 ** 20;
/**
 * Compressed prefixes tried, in turn, to reach the pixel data element of a deflated dataset:
 * doubling, so that a prefix overflowing the header bound comes right after one that did not.
 */
const HEADER_PROBES = Array.from({ length: 10 }, (_, k) => 4096 * 2 ** k);

/** Raw inflate of `input` that stops at `maxOutput` bytes with an FlError instead of growing. */
function inflateAtMost(
  input: Uint8Array,
  maxOutput: number,
  file: string,
  what: string,
  partial: boolean,
): Buffer {
  try {
    return inflateRawSync(input, {
      maxOutputLength: Math.max(1, maxOutput),
      // A prefix of the stream: hand back what it holds instead of failing on its end.
      ...(partial ? { finishFlush: zlibConstants.Z_SYNC_FLUSH } : {}),
    });
  } catch (error) {
    if ((error as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") {
      throw new FlError(
        ErrorCode.TooLarge,
        `${file}: deflated data inflates beyond the ${maxOutput} bytes ${what} allows; refusing to inflate it further`,
      );
    }
    throw new FlError(
      ErrorCode.DataError,
      `${file}: deflated dataset does not inflate (${describeThrown(error)})`,
      { cause: error },
    );
  }
}

function boundedInflater(file: string, maxOutput: number, what: string, probe?: number): Inflater {
  return (byteArray, position) => {
    const deflated = byteArray.subarray(position, probe === undefined ? undefined : position + probe);
    const partial = probe !== undefined && position + probe < byteArray.length;
    const inflated = inflateAtMost(deflated, maxOutput, file, what, partial);
    return Buffer.concat([byteArray.subarray(0, position), inflated]);
  };
}

/**
 * The dataset up to and including the Pixel Data element's header (not its value). A deflated
 * dataset is inflated from growing compressed prefixes until that element is reached, so that
 * reading a header never inflates the pixels, and never more than MAX_HEADER_INFLATED_BYTES.
 */
function parseHeader(
  bytes: Uint8Array,
  file: string,
): { dataSet: dicomParser.DataSet; deflatePosition?: number } {
  let deflatePosition: number | undefined;
  for (const probe of [...HEADER_PROBES, undefined]) {
    let probed = false;
    const inflater: Inflater = (byteArray, position) => {
      deflatePosition = position;
      probed = probe !== undefined && position + probe < byteArray.length;
      return boundedInflater(
        file,
        MAX_HEADER_INFLATED_BYTES,
        "the header of one image",
        probe,
      )(byteArray, position);
    };
    try {
      const dataSet = parse(bytes, file, { untilTag: PIXEL_DATA, inflater });
      checkElementsInside(dataSet, file);
      if (deflatePosition === undefined) return { dataSet };
      if (dataSet.elements[PIXEL_DATA] || !probed) return { dataSet, deflatePosition };
    } catch (error) {
      if (!probed || isFlError(error, ErrorCode.TooLarge)) throw error;
    }
  }
  // The last probe is the whole stream, which either parses or throws above.
  throw new FlError(ErrorCode.Internal, `${file}: header probing ended without a result`);
}

const PIXEL_DATA = "x7fe00010";

/**
 * dicom-parser records an element whose length runs past the end of the buffer and throws a
 * string only when the value is read; refuse such a file here, naming the element. Pixel Data
 * has its own checks (its value may legitimately lie beyond a header probe).
 */
function checkElementsInside(dataSet: dicomParser.DataSet, file: string): void {
  const end = dataSet.byteArray.length;
  for (const [tag, element] of Object.entries(dataSet.elements)) {
    if (tag === PIXEL_DATA) continue;
    if (element.dataOffset + element.length > end) {
      throw new FlError(
        ErrorCode.DataError,
        `${file}: element (${tag.slice(1, 5)},${tag.slice(5)}) declares ${element.length} bytes, past the end of the data (truncated file?)`,
      );
    }
    for (const item of element.items ?? []) if (item.dataSet) checkElementsInside(item.dataSet, file);
  }
}

function text(dataSet: dicomParser.DataSet, tag: string): string | undefined {
  const value = dataSet.string(tag);
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}

/** Reads the identifying header fields, stopping before the pixel data. */
export function readDicomHeader(bytes: Uint8Array, file: string): DicomHeader {
  const { dataSet } = parseHeader(bytes, file);
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

/** How the samples of a decoded frame become one grey value per pixel. */
type ColourLayout = "grey" | "rgb" | "ybr" | "ybr422";

/**
 * The colour layout of the stored samples, or a refusal that says why: every photometric
 * interpretation either decodes to the right luminance or is refused, never guessed.
 */
function colourLayout(
  photometric: string,
  samples: number,
  encoding: PixelEncoding,
  planar: number,
  width: number,
  file: string,
): ColourLayout {
  const refuse = (reason: string): never => {
    throw new FlError(ErrorCode.Unsupported, `${file}: Photometric Interpretation ${photometric} ${reason}`);
  };
  if (samples === 1) {
    if (photometric === "PALETTE COLOR") refuse("(pseudo-colour) is not supported for chest X-rays");
    if (photometric !== "MONOCHROME1" && photometric !== "MONOCHROME2")
      refuse("with one sample per pixel is not a greyscale image; expected MONOCHROME1 or MONOCHROME2");
    return "grey";
  }
  if (samples !== 3) {
    throw new FlError(
      ErrorCode.Unsupported,
      `${file}: ${samples} samples per pixel are not supported (1 for greyscale, 3 for colour)`,
    );
  }
  const jpegLossy = encoding === "jpeg-baseline" || encoding === "jpeg-extended";
  switch (photometric) {
    case "RGB":
      return "rgb";
    case "YBR_FULL":
      return "ybr";
    case "YBR_FULL_422":
      if (jpegLossy) return "ybr";
      if (encoding !== "native-le" && encoding !== "native-be" && encoding !== "deflate")
        refuse(`is defined for uncompressed and JPEG lossy pixel data only, not ${encoding}`);
      if (planar !== 0) refuse("requires Planar Configuration 0 (PS3.3 C.7.6.3.1.3)");
      if (width % 2 !== 0) refuse(`needs an even number of columns to pair its chroma, not ${width}`);
      return "ybr422";
    case "YBR_ICT":
    case "YBR_RCT":
      // OpenJPEG undoes the codestream's component transform and hands back RGB.
      if (encoding === "jpeg-2000") return "rgb";
      return refuse("is defined for JPEG 2000 pixel data only");
    case "YBR_PARTIAL_422":
    case "YBR_PARTIAL_420":
      return refuse("(limited-range YCbCr) is not supported; convert the file to RGB or YBR_FULL first");
    default:
      return refuse(`with ${samples} samples per pixel is not supported (RGB, YBR_FULL, YBR_FULL_422 are)`);
  }
}

/** Decodes the first frame of a DICOM image into modality values, with its VOI settings. */
export async function decodeDicom(
  bytes: Uint8Array,
  file: string,
  limits: DecodeLimits = DEFAULT_DECODE_LIMITS,
): Promise<DecodedDicom> {
  // The header first: geometry is checked against the bound before pixels are inflated or decoded.
  const header = parseHeader(bytes, file);
  const transferSyntax = text(header.dataSet, "x00020010") ?? "1.2.840.10008.1.2";
  const syntax = TRANSFER_SYNTAXES[transferSyntax];
  if (!syntax?.encoding) {
    throw new FlError(
      ErrorCode.Unsupported,
      `${file}: transfer syntax ${transferSyntax} (${syntax?.name ?? "unknown"}) is not supported; ` +
        `supported are ${supportedTransferSyntaxes().join(", ")}. Convert the file to an uncompressed ` +
        "syntax first (e.g. `gdcmconv --raw in.dcm out.dcm` or `dcmdjpeg`).",
    );
  }
  const headerSet = header.dataSet;
  if (!headerSet.elements[PIXEL_DATA])
    throw new FlError(ErrorCode.DataError, `${file}: no Pixel Data (7FE0,0010): not an image`);
  const height = required(headerSet, "x00280010", "Rows", file);
  const width = required(headerSet, "x00280011", "Columns", file);
  const bitsAllocated = required(headerSet, "x00280100", "Bits Allocated", file);
  const bitsStored = headerSet.uint16("x00280101") ?? bitsAllocated;
  const pixelRepresentation = headerSet.uint16("x00280103") ?? 0;
  const samples = headerSet.uint16("x00280002") ?? 1;
  const planar = headerSet.uint16("x00280006") ?? 0;
  const photometric = (text(headerSet, "x00280004") ?? "MONOCHROME2").toUpperCase();
  if (width === 0 || height === 0)
    throw new FlError(ErrorCode.DataError, `${file}: image has zero rows or columns`);
  if (bitsAllocated !== 8 && bitsAllocated !== 16) {
    throw new FlError(
      ErrorCode.Unsupported,
      `${file}: Bits Allocated ${bitsAllocated} is not supported (8 or 16)`,
    );
  }
  const layout = colourLayout(photometric, samples, syntax.encoding, planar, width, file);
  checkDecodedSize(file, { width, height, samples, bytesPerSample: bitsAllocated / 8 }, limits);

  const dataSet =
    header.deflatePosition === undefined
      ? parse(bytes, file, { inflater: refuseInflate })
      : parse(bytes, file, {
          inflater: pixelBoundedInflater(header.deflatePosition, headerSet, file, limits),
        });
  checkElementsInside(dataSet, file);
  const pixelElement = dataSet.elements[PIXEL_DATA];
  if (!pixelElement)
    throw new FlError(ErrorCode.DataError, `${file}: no Pixel Data (7FE0,0010): not an image`);
  const frameBytes = await decodeFrameBytes(dataSet, pixelElement, syntax.encoding, {
    width,
    height,
    bitsAllocated,
    samples,
    layout,
    transferSyntax,
    file,
    frameTimeoutMs: limits.frameTimeoutMs ?? defaultFrameTimeoutMs(width * height),
  });
  const stored = toStoredValues(frameBytes, {
    width,
    height,
    bitsAllocated: frameBytes.bitsAllocated,
    bitsStored: Math.min(bitsStored, frameBytes.bitsAllocated),
    signed: pixelRepresentation === 1,
    samples: frameBytes.samples,
    planar: frameBytes.forcedInterleaved ? 0 : planar,
    bigEndian: syntax.encoding === "native-be",
    layout: frameBytes.layout,
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

const refuseInflate: Inflater = () => {
  throw new FlError(ErrorCode.Internal, "a dataset that was not deflated asked to be inflated");
};

/**
 * Inflates a deflated dataset no further than its header, its declared pixel data and a small
 * trailer: a stream that inflates beyond what its own header declares is refused, not followed.
 */
function pixelBoundedInflater(
  position: number,
  headerSet: dicomParser.DataSet,
  file: string,
  limits: DecodeLimits,
): Inflater {
  const pixel = headerSet.elements[PIXEL_DATA] as dicomParser.Element;
  if (pixel.hadUndefinedLength || pixel.length === 0xffffffff) {
    throw new FlError(
      ErrorCode.DataError,
      `${file}: encapsulated (undefined-length) pixel data under the deflated transfer syntax`,
    );
  }
  if (pixel.length > limits.maxImageBytes) {
    throw new FlError(
      ErrorCode.TooLarge,
      `${file}: deflated pixel data declares ${pixel.length} bytes (several frames?), above the limit of ` +
        `${limits.maxImageBytes}; only single images within data.maxImageBytes are read`,
    );
  }
  const allowed = pixel.dataOffset - position + pixel.length + TRAILER_ALLOWANCE_BYTES;
  return boundedInflater(file, allowed, "its header and declared pixel data");
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
  /** Codecs hand back interleaved samples regardless of Planar Configuration. */
  readonly forcedInterleaved: boolean;
  /** The colour space of `bytes`: a codec may have converted it (JPEG YCbCr to RGB). */
  readonly layout: ColourLayout;
}

interface FrameContext {
  readonly width: number;
  readonly height: number;
  readonly bitsAllocated: number;
  readonly samples: number;
  readonly layout: ColourLayout;
  readonly transferSyntax: string;
  readonly file: string;
  readonly frameTimeoutMs: number;
}

async function decodeFrameBytes(
  dataSet: dicomParser.DataSet,
  element: dicomParser.Element,
  encoding: PixelEncoding,
  ctx: FrameContext,
): Promise<FrameBytes> {
  const bytesPerSample = ctx.bitsAllocated / 8;
  // YBR_FULL_422 stores two luma samples and one chroma pair per two pixels (PS3.3 C.7.6.3.1.2).
  const valuesPerPixel = ctx.layout === "ybr422" ? 2 : ctx.samples;
  const frameLength = ctx.width * ctx.height * valuesPerPixel * bytesPerSample;
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
          `${ctx.width}x${ctx.height}x${ctx.bitsAllocated} bit` +
          `${ctx.samples > 1 ? ` ${ctx.layout === "ybr422" ? "YBR_FULL_422" : `x${ctx.samples} samples`}` : ""} needs ${frameLength}`,
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
      layout: ctx.layout,
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
  encoding: PixelEncoding,
  ctx: FrameContext,
  frameLength: number,
): Promise<FrameBytes> {
  const bytesPerSample = ctx.bitsAllocated / 8;
  switch (encoding) {
    case "rle": {
      const bytes = decodeRleFrame(frame, ctx.width, ctx.height, bytesPerSample, ctx.samples, ctx.file);
      return {
        bytes,
        bitsAllocated: ctx.bitsAllocated,
        samples: ctx.samples,
        forcedInterleaved: true,
        layout: ctx.layout,
      };
    }
    case "jpeg-baseline":
    case "jpeg-extended": {
      const info = jpegInfoMatchingHeader(frame, ctx);
      if (info.precision > 8) {
        throw new FlError(
          ErrorCode.Unsupported,
          `${ctx.file}: ${info.precision}-bit JPEG (transfer syntax ${ctx.transferSyntax}) has no maintained JavaScript decoder; ` +
            "convert the file first (e.g. `gdcmconv --raw in.dcm out.dcm` or `dcmdjpeg`)",
        );
      }
      // The stream's own marker decides; else Photometric Interpretation does (PS3.5 8.2.1: RGB
      // means the encoder applied no colour transform). Decoders that assume JFIF's YCbCr for
      // every three-component stream turn such RGB into wrong colours and wrong luminance.
      const ycbcr =
        info.componentIds.length === 3
          ? info.adobeTransform !== undefined
            ? info.adobeTransform !== 0
            : ctx.layout === "rgb"
              ? false
              : (streamIsYcbcr(info) ?? true)
          : false;
      const decoded = jpeg.decode(frame, {
        useTArray: true,
        formatAsRGBA: false,
        tolerantDecoding: false,
        colorTransform: ycbcr,
        ...jpegMemoryOptions(ctx.width, ctx.height),
      });
      checkGeometry(decoded.width, decoded.height, ctx);
      // jpeg-js hands back three channels for every stream of three or more components.
      const samples = info.componentIds.length === 1 ? 1 : 3;
      const layout: ColourLayout =
        samples === 1 ? "grey" : ycbcr ? "rgb" : ctx.layout === "grey" ? "rgb" : ctx.layout;
      return { bytes: decoded.data, bitsAllocated: 8, samples, forcedInterleaved: true, layout };
    }
    case "jpeg-lossless": {
      jpegInfoMatchingHeader(frame, ctx);
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
      return {
        bytes,
        bitsAllocated: ctx.bitsAllocated,
        samples: ctx.samples,
        forcedInterleaved: true,
        layout: ctx.layout,
      };
    }
    case "jpeg-ls":
    case "jpeg-2000": {
      if (encoding === "jpeg-ls") jpegInfoMatchingHeader(frame, ctx);
      else j2kSizeMatchingHeader(frame, ctx);
      const decoded = await decodeWasmFrame(
        encoding === "jpeg-ls" ? "charls" : "openjpeg",
        frame,
        ctx.file,
        ctx.frameTimeoutMs,
      );
      checkGeometry(decoded.width, decoded.height, ctx);
      return {
        bytes: decoded.bytes,
        bitsAllocated: decoded.bitsPerSample > 8 ? 16 : 8,
        samples: decoded.componentCount,
        forcedInterleaved: true,
        layout: decoded.componentCount === 1 ? "grey" : ctx.layout,
      };
    }
    default:
      throw new FlError(ErrorCode.Unsupported, `${ctx.file}: no decoder for ${encoding}`);
  }
}

/**
 * The JPEG (or JPEG-LS) frame header, read before decoding: a frame whose geometry differs from
 * the DICOM header's (which the bound was checked against) is refused before a decoder sizes
 * its buffers from it.
 */
function jpegInfoMatchingHeader(frame: Uint8Array, ctx: FrameContext): JpegStreamInfo {
  const info = readJpegStreamInfo(frame);
  if (!info) {
    throw new FlError(ErrorCode.DataError, `${ctx.file}: compressed frame has no readable JPEG frame header`);
  }
  checkGeometry(info.width, info.height, ctx);
  if (info.componentIds.length !== 1 && info.componentIds.length !== 3) {
    throw new FlError(
      ErrorCode.Unsupported,
      `${ctx.file}: JPEG frame has ${info.componentIds.length} components (1 or 3 are supported)`,
    );
  }
  return info;
}

/** JPEG 2000: the SIZ marker segment that must follow SOC (ISO 15444-1 A.5.1). */
function j2kSizeMatchingHeader(frame: Uint8Array, ctx: FrameContext): void {
  if (frame.length < 42 || frame[0] !== 0xff || frame[1] !== 0x4f || frame[2] !== 0xff || frame[3] !== 0x51) {
    throw new FlError(
      ErrorCode.DataError,
      `${ctx.file}: compressed frame is not a JPEG 2000 codestream (no SOC and SIZ)`,
    );
  }
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const width = view.getUint32(8) - view.getUint32(16);
  const height = view.getUint32(12) - view.getUint32(20);
  checkGeometry(width, height, ctx);
  // OpenJPEG allocates every component at full size: their count must be the header's.
  const components = view.getUint16(40);
  if (components !== ctx.samples) {
    throw new FlError(
      ErrorCode.DataError,
      `${ctx.file}: JPEG 2000 codestream has ${components} components but Samples per Pixel is ${ctx.samples}`,
    );
  }
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
 * Loads a cornerstone WASM codec once per process (decoding runs in wasm-decode-worker.mjs).
 * @internal Exported for the tests, which encode their JPEG-LS/JPEG 2000 fixtures with it.
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
  readonly layout: ColourLayout;
  readonly file: string;
}

/** Raw bytes to one grey value per pixel: bit masking, sign extension, colour to luminance. */
function toStoredValues(frame: FrameBytes, ctx: StoredContext): Float32Array {
  const pixels = ctx.width * ctx.height;
  const bytes = frame.bytes;
  const bytesPerSample = ctx.bitsAllocated / 8;
  const valuesPerPixel = ctx.layout === "ybr422" ? 2 : ctx.samples;
  const needed = pixels * valuesPerPixel * bytesPerSample;
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
  if (ctx.layout === "grey" || ctx.samples === 1) {
    for (let i = 0; i < pixels; i++) out[i] = sample(i * ctx.samples);
    return out;
  }
  if (ctx.layout === "ybr422") {
    // Y1 Y2 Cb Cr per horizontal pair of pixels: the luma of pixel i is value 4·⌊i/2⌋ + i mod 2.
    for (let i = 0; i < pixels; i++) out[i] = sample(4 * (i >> 1) + (i & 1));
    return out;
  }
  for (let i = 0; i < pixels; i++) {
    const at = (c: number): number =>
      ctx.planar === 1 ? sample(c * pixels + i) : sample(i * ctx.samples + c);
    // YBR_FULL's first channel is the BT.601 luma that RGB is weighted into here.
    out[i] = ctx.layout === "ybr" ? at(0) : 0.299 * at(0) + 0.587 * at(1) + 0.114 * at(2);
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
