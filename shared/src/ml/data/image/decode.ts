import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { ErrorCode, errorMessage, FlError } from "../../../errors.js";
import { decodeDicom, dicomToDisplay } from "../dicom/decode.js";

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
 * Throws FlError(DataError) naming the file for anything unreadable.
 */
export async function decodeImage(bytes: Uint8Array, file: string): Promise<GreyImage> {
  const format = sniffFormat(bytes, file);
  if (format === "dicom") {
    const decoded = await decodeDicom(bytes, file);
    return { width: decoded.width, height: decoded.height, pixels: dicomToDisplay(decoded) };
  }
  if (format === "png") return decodePng(bytes, file);
  if (format === "jpeg") return decodeJpeg(bytes, file);
  throw new FlError(ErrorCode.DataError, `${file}: not a DICOM, PNG or JPEG file (unrecognised content)`);
}

function decodePng(bytes: Uint8Array, file: string): GreyImage {
  let png: PNG;
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { skipRescale: true });
  } catch (error) {
    throw new FlError(ErrorCode.DataError, `${file}: PNG does not decode (${errorMessage(error)})`, {
      cause: error,
    });
  }
  const { width, height } = png;
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

function decodeJpeg(bytes: Uint8Array, file: string): GreyImage {
  let decoded: { width: number; height: number; data: Uint8Array };
  try {
    decoded = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 1024 });
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
