import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { ErrorCode, errorMessage, FlError } from "../../../errors.js";
import { decodeDicom, dicomToDisplay } from "../dicom/decode.js";
import { jpegMemoryOptions, readJpegStreamInfo, streamIsYcbcr } from "./jpeg-info.js";
import { checkDecodedSize, DEFAULT_DECODE_LIMITS, type DecodeLimits } from "./limits.js";

/** A decoded grey image with display values in [0, 1]. */
export interface GreyImage {
  readonly width: number;
  readonly height: number;
  readonly pixels: Float32Array;
}

type ImageFormat = "dicom" | "png" | "jpeg";

/** Recognises a file by its first bytes (DICOM may lack its preamble: then by extension). */
function sniffFormat(bytes: Uint8Array, file: string): ImageFormat | undefined {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47)
    return "png";
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "jpeg";
  if (
    bytes.length >= 132 &&
    bytes[128] === 0x44 &&
    bytes[129] === 0x49 &&
    bytes[130] === 0x43 &&
    bytes[131] === 0x4d
  ) {
    return "dicom";
  }
  if (/\.(dcm|dicom)$/i.test(file)) return "dicom";
  return undefined;
}

/**
 * Decodes a DICOM, PNG or JPEG file into display values in [0, 1]. Colour becomes luminance;
 * 16-bit PNGs are scaled by their own min..max (they rarely use the full range).
 * Throws FlError(DataError) naming the file for anything unreadable, FlError(TooLarge) for an
 * image whose header declares more than `limits` allows (checked before decoding).
 */
export async function decodeImage(
  bytes: Uint8Array,
  file: string,
  limits: DecodeLimits = DEFAULT_DECODE_LIMITS,
): Promise<GreyImage> {
  const format = sniffFormat(bytes, file);
  if (format === "dicom") {
    const decoded = await decodeDicom(bytes, file, limits);
    return { width: decoded.width, height: decoded.height, pixels: dicomToDisplay(decoded) };
  }
  if (format === "png") return decodePng(bytes, file, limits);
  if (format === "jpeg") return decodeJpeg(bytes, file, limits);
  throw new FlError(ErrorCode.DataError, `${file}: not a DICOM, PNG or JPEG file (unrecognised content)`);
}

/** Samples per pixel of each PNG colour type (ISO 15948 11.2.2). */
const PNG_CHANNELS: Readonly<Record<number, number>> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/**
 * The geometry from the IHDR chunk, which must come first (ISO 15948 5.6): pngjs sizes its
 * buffers from it, so it is checked against the bound before pngjs sees the file.
 */
function checkPngHeader(
  bytes: Uint8Array,
  file: string,
  limits: DecodeLimits,
): { width: number; height: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const isIhdr = bytes.length >= 33 && String.fromCharCode(...bytes.subarray(12, 16)) === "IHDR";
  if (!isIhdr || view.getUint32(8) !== 13) {
    throw new FlError(ErrorCode.DataError, `${file}: PNG does not start with an IHDR chunk (damaged file)`);
  }
  const width = view.getUint32(16);
  const height = view.getUint32(20);
  const depth = bytes[24] as number;
  const channels = PNG_CHANNELS[bytes[25] as number];
  if (width === 0 || height === 0 || channels === undefined || ![1, 2, 4, 8, 16].includes(depth)) {
    throw new FlError(
      ErrorCode.DataError,
      `${file}: PNG header is invalid (${width}x${height}, bit depth ${depth}, colour type ${bytes[25]})`,
    );
  }
  checkDecodedSize(file, { width, height, samples: channels, bytesPerSample: depth > 8 ? 2 : 1 }, limits);
  return { width, height };
}

function decodePng(bytes: Uint8Array, file: string, limits: DecodeLimits): GreyImage {
  const declared = checkPngHeader(bytes, file, limits);
  let png: PNG;
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { skipRescale: true });
  } catch (error) {
    throw new FlError(ErrorCode.DataError, `${file}: PNG does not decode (${errorMessage(error)})`, {
      cause: error,
    });
  }
  const { width, height } = png;
  if (width !== declared.width || height !== declared.height) {
    throw new FlError(
      ErrorCode.DataError,
      `${file}: PNG decoded to ${width}x${height}, its IHDR says ${declared.width}x${declared.height}`,
    );
  }
  const data = png.data as unknown as ArrayLike<number>;
  const pixels = new Float32Array(width * height);
  const deep = (png as unknown as { depth?: number }).depth === 16;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < pixels.length; i++) {
    const o = i * 4;
    const v = 0.299 * (data[o] as number) + 0.587 * (data[o + 1] as number) + 0.114 * (data[o + 2] as number);
    pixels[i] = v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const lo = deep ? min : 0;
  const range = deep ? (max > min ? max - min : 1) : 255;
  for (let i = 0; i < pixels.length; i++) pixels[i] = ((pixels[i] as number) - lo) / range;
  return { width, height, pixels };
}

function decodeJpeg(bytes: Uint8Array, file: string, limits: DecodeLimits): GreyImage {
  const info = readJpegStreamInfo(bytes);
  if (!info)
    throw new FlError(ErrorCode.DataError, `${file}: JPEG has no readable frame header (damaged file)`);
  if (info.width === 0 || info.height === 0) {
    throw new FlError(
      ErrorCode.DataError,
      `${file}: JPEG frame header declares ${info.width}x${info.height}`,
    );
  }
  const samples = info.componentIds.length;
  checkDecodedSize(file, { width: info.width, height: info.height, samples, bytesPerSample: 1 }, limits);
  let decoded: { width: number; height: number; data: Uint8Array };
  try {
    decoded = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: false,
      // Unmarked three-component JPEG files are JFIF, hence YCbCr; an Adobe marker says otherwise.
      colorTransform: samples === 3 ? (streamIsYcbcr(info) ?? true) : false,
      ...jpegMemoryOptions(info.width, info.height),
    });
  } catch (error) {
    throw new FlError(ErrorCode.DataError, `${file}: JPEG does not decode (${errorMessage(error)})`, {
      cause: error,
    });
  }
  const { width, height, data } = decoded;
  const channels = data.length / (width * height);
  const pixels = new Float32Array(width * height);
  for (let i = 0; i < pixels.length; i++) {
    pixels[i] =
      channels >= 3
        ? (0.299 * (data[i * channels] as number) +
            0.587 * (data[i * channels + 1] as number) +
            0.114 * (data[i * channels + 2] as number)) /
          255
        : (data[i * channels] as number) / 255;
  }
  return { width, height, pixels };
}
