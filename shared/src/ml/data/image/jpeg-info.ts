/** What the markers before the first scan say about a JPEG (or JPEG-LS) stream. */
export interface JpegStreamInfo {
  /** The start-of-frame marker (0xC0..0xCF, or 0xF7 for JPEG-LS). */
  readonly sof: number;
  readonly precision: number;
  readonly width: number;
  /** 0 when the stream defers it to a DNL marker. */
  readonly height: number;
  readonly componentIds: readonly number[];
  /** The Adobe APP14 colour transform (0 none, 1 YCbCr, 2 YCCK), when that marker is present. */
  readonly adobeTransform?: number;
  /** A JFIF APP0 marker is present (JFIF means YCbCr). */
  readonly jfif: boolean;
}

const isSof = (marker: number): boolean =>
  (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) ||
  marker === 0xf7;

/**
 * Reads the frame header and colour markers without decoding anything, so that geometry and
 * colour handling are known before a decoder allocates. Undefined when no frame header precedes
 * the first scan (not a JPEG, or a damaged one).
 */
export function readJpegStreamInfo(bytes: Uint8Array): JpegStreamInfo | undefined {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return undefined;
  let frame: Omit<JpegStreamInfo, "jfif" | "adobeTransform"> | undefined;
  let jfif = false;
  let adobeTransform: number | undefined;
  let i = 2;
  while (i + 1 < bytes.length) {
    if (bytes[i] !== 0xff) return undefined;
    const marker = bytes[i + 1] as number;
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      i += 2;
      continue;
    }
    if (marker === 0xda || marker === 0xd9) break;
    if (i + 3 >= bytes.length) return undefined;
    const length = ((bytes[i + 2] as number) << 8) | (bytes[i + 3] as number);
    if (length < 2 || i + 2 + length > bytes.length) return undefined;
    const data = bytes.subarray(i + 4, i + 2 + length);
    if (isSof(marker) && frame === undefined && data.length >= 6) {
      const count = data[5] as number;
      const componentIds: number[] = [];
      for (let k = 0; k < count && 6 + 3 * k < data.length; k++) componentIds.push(data[6 + 3 * k] as number);
      frame = {
        sof: marker,
        precision: data[0] as number,
        height: ((data[1] as number) << 8) | (data[2] as number),
        width: ((data[3] as number) << 8) | (data[4] as number),
        componentIds,
      };
    } else if (marker === 0xe0 && data.length >= 5 && ascii(data, 0, 5) === "JFIF\0") {
      jfif = true;
    } else if (marker === 0xee && data.length >= 12 && ascii(data, 0, 5) === "Adobe") {
      adobeTransform = data[11] as number;
    }
    i += 2 + length;
  }
  if (!frame) return undefined;
  return { ...frame, jfif, ...(adobeTransform !== undefined ? { adobeTransform } : {}) };
}

function ascii(data: Uint8Array, start: number, length: number): string {
  return String.fromCharCode(...data.subarray(start, start + length));
}

/**
 * Whether a three-component stream holds YCbCr (and must be converted to RGB), decided the way
 * libjpeg does: the Adobe marker's transform, else JFIF (always YCbCr), else component ids
 * 'R','G','B' (RGB). Undefined when the stream does not say; the caller decides (DICOM from its
 * Photometric Interpretation, a plain JPEG file by the JFIF default of YCbCr).
 */
export function streamIsYcbcr(info: JpegStreamInfo): boolean | undefined {
  if (info.adobeTransform !== undefined) return info.adobeTransform !== 0;
  if (info.jfif) return true;
  const [a, b, c] = info.componentIds;
  if (a === 0x52 && b === 0x47 && c === 0x42) return false;
  return undefined;
}

/** jpeg-js's own guards, sized to the (already bounded) frame instead of its 512 MB default. */
export function jpegMemoryOptions(
  width: number,
  height: number,
): { maxResolutionInMP: number; maxMemoryUsageInMB: number } {
  const pixels = width * height;
  return {
    maxResolutionInMP: Math.max(1, Math.ceil(pixels / 1e6)),
    // Component planes at block granularity plus the RGB output: well under 16 bytes a pixel.
    maxMemoryUsageInMB: Math.max(16, Math.ceil((pixels * 16) / 2 ** 20)),
  };
}
