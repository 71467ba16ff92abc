import { PNG } from "pngjs";

/** Encodes grey values in [0, 1] as an 8-bit greyscale PNG. */
export function encodeGreyPng(pixels: Float32Array, width: number, height: number): Buffer {
  const png = new PNG({ width, height, colorType: 0, inputColorType: 0, bitDepth: 8, inputHasAlpha: false });
  const data = Buffer.alloc(width * height);
  for (let i = 0; i < data.length; i++) {
    const v = pixels[i] as number;
    data[i] = Math.round(Math.min(1, Math.max(0, v)) * 255);
  }
  png.data = data;
  return PNG.sync.write(png, { colorType: 0, inputColorType: 0, bitDepth: 8, inputHasAlpha: false });
}

/** Encodes an RGBA buffer (4 bytes per pixel) as a PNG. */
export function encodeRgbaPng(rgba: Uint8Array, width: number, height: number): Buffer {
  const png = new PNG({ width, height });
  png.data = Buffer.from(rgba.buffer, rgba.byteOffset, rgba.byteLength);
  return PNG.sync.write(png);
}
