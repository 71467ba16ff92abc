import { ErrorCode, FlError } from "../../../errors.js";

/**
 * Decodes one DICOM RLE Lossless frame (PS3.5 Annex G): a 64-byte header of segment offsets,
 * then one PackBits segment per byte plane, most significant plane first. Returns the frame as
 * interleaved little-endian samples (what native pixel data would hold).
 */
export function decodeRleFrame(
  frame: Uint8Array,
  width: number,
  height: number,
  bytesPerSample: number,
  samples: number,
  file: string,
): Uint8Array {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (frame.byteLength < 64)
    throw new FlError(ErrorCode.DataError, `${file}: RLE frame shorter than its header`);
  const segments = view.getUint32(0, true);
  const expected = bytesPerSample * samples;
  if (segments !== expected) {
    throw new FlError(
      ErrorCode.DataError,
      `${file}: RLE frame has ${segments} segments, expected ${expected}`,
    );
  }
  const pixels = width * height;
  const out = new Uint8Array(pixels * expected);
  for (let s = 0; s < segments; s++) {
    const start = view.getUint32(4 + 4 * s, true);
    const end = s + 1 < segments ? view.getUint32(8 + 4 * s, true) : frame.byteLength;
    if (start < 64 || end > frame.byteLength || end < start) {
      throw new FlError(
        ErrorCode.DataError,
        `${file}: RLE segment ${s} offsets are out of range (truncated file?)`,
      );
    }
    // Segment order: sample 0 MSB .. LSB, sample 1 MSB .. LSB, ...
    const sample = Math.floor(s / bytesPerSample);
    const byteInSample = bytesPerSample - 1 - (s % bytesPerSample);
    const stride = expected;
    let outIndex = sample * bytesPerSample + byteInSample;
    let produced = 0;
    let p = start;
    while (p < end && produced < pixels) {
      const n = ((frame[p++] as number) << 24) >> 24;
      if (n >= 0) {
        for (let k = 0; k <= n && produced < pixels && p < end; k++) {
          out[outIndex] = frame[p++] as number;
          outIndex += stride;
          produced++;
        }
      } else if (n !== -128) {
        const value = frame[p++] as number;
        for (let k = 0; k < 1 - n && produced < pixels; k++) {
          out[outIndex] = value;
          outIndex += stride;
          produced++;
        }
      }
    }
    if (produced < pixels) {
      throw new FlError(
        ErrorCode.DataError,
        `${file}: RLE segment ${s} ended after ${produced} of ${pixels} pixels`,
      );
    }
  }
  return out;
}
