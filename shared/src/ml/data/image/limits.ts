import { ErrorCode, FlError } from "../../../errors.js";

/** How much one image may decode to; checked from its header before any pixel buffer exists. */
export interface DecodeLimits {
  /** Bound on rows × columns × samples × bytes per sample of one decoded frame. */
  readonly maxImageBytes: number;
  /** How long a JPEG-LS or JPEG 2000 frame may take to decode (default defaultFrameTimeoutMs). */
  readonly frameTimeoutMs?: number;
}

/** Ten seconds, plus one per megapixel: minutes for the largest image, far beyond any real decode. */
export function defaultFrameTimeoutMs(pixels: number): number {
  return 10_000 + pixels / 1000;
}

/** 8192 × 8192 × 16-bit, one sample: larger than any chest radiograph detector (128 MiB). */
export const DEFAULT_MAX_IMAGE_BYTES = 8192 * 8192 * 2;

export const DEFAULT_DECODE_LIMITS: DecodeLimits = { maxImageBytes: DEFAULT_MAX_IMAGE_BYTES };

function formatBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(1)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  return `${n} bytes`;
}

/**
 * Refuses a frame whose declared geometry decodes to more than the bound, so that a tiny file
 * declaring a huge image fails before a buffer of that size is requested.
 */
export function checkDecodedSize(
  file: string,
  geometry: { width: number; height: number; samples: number; bytesPerSample: number },
  limits: DecodeLimits,
): void {
  const { width, height, samples, bytesPerSample } = geometry;
  const bytes = width * height * samples * bytesPerSample;
  if (bytes > limits.maxImageBytes) {
    throw new FlError(
      ErrorCode.TooLarge,
      `${file}: declares a ${width}x${height} image with ${samples} sample(s) of ${bytesPerSample * 8} bit, ` +
        `${formatBytes(bytes)} decoded, above the limit of ${formatBytes(limits.maxImageBytes)}; ` +
        "if the image is genuine, raise data.maxImageBytes",
    );
  }
}
