import { createHash } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { ErrorCode, errorMessage, FlError } from "../../../errors.js";
import type { ResizeMode } from "../image/boxes.js";
import { decodeImage } from "../image/decode.js";
import { DEFAULT_MAX_IMAGE_BYTES } from "../image/limits.js";
import { resizeToSquare } from "../image/resize.js";

/** Bump when decoding or resizing changes, so that old cache entries are not reused. */
const PREPROCESS_VERSION = 2;
const MAGIC = 0x31434c46; // "FLC1"

export interface PreprocessParams {
  readonly size: number;
  readonly resize: ResizeMode;
  /** Bound on the decoded file (default DEFAULT_MAX_IMAGE_BYTES); not part of the cache key. */
  readonly maxImageBytes?: number;
}

/** A file's image at training size, and the size it had (for mapping boxes). */
export interface PreprocessedImage {
  readonly image: Float32Array;
  readonly width: number;
  readonly height: number;
  readonly fromCache: boolean;
}

/** Cache key: content hash of the file and the preprocessing parameters. */
function preprocessKey(bytes: Uint8Array, params: PreprocessParams): string {
  return createHash("sha256")
    .update(bytes)
    .update(JSON.stringify({ v: PREPROCESS_VERSION, size: params.size, resize: params.resize }))
    .digest("hex");
}

async function readFileOrFail(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new FlError(ErrorCode.DataError, `${path}: cannot read (${errorMessage(error)})`, { cause: error });
  }
}

/**
 * Decodes, resizes and normalises one image file; with `cacheDir` the result is stored under the
 * hash of the file's content and the parameters, so a renamed file still hits and an edited one
 * misses. Cache files are written atomically (temp + rename): concurrent processes may share one.
 */
export async function loadPreprocessed(
  path: string,
  params: PreprocessParams,
  cacheDir?: string,
): Promise<PreprocessedImage> {
  const bytes = await readFileOrFail(path);
  const key = cacheDir ? preprocessKey(bytes, params) : "";
  const cachePath = cacheDir ? join(cacheDir, key.slice(0, 2), `${key}.bin`) : "";
  if (cacheDir) {
    const cached = await readCache(cachePath, params.size);
    if (cached) return cached;
  }
  const grey = await decodeImage(bytes, path, {
    maxImageBytes: params.maxImageBytes ?? DEFAULT_MAX_IMAGE_BYTES,
  });
  const image = resizeToSquare(grey.pixels, grey.width, grey.height, params.size, params.resize);
  if (cacheDir) await writeCache(cachePath, image, grey.width, grey.height, params.size);
  return { image, width: grey.width, height: grey.height, fromCache: false };
}

async function readCache(path: string, size: number): Promise<PreprocessedImage | undefined> {
  let buffer: Buffer;
  try {
    buffer = await readFile(path);
  } catch {
    return undefined;
  }
  const header = 16;
  if (
    buffer.length !== header + size * size * 4 ||
    buffer.readUInt32LE(0) !== MAGIC ||
    buffer.readUInt32LE(12) !== size
  ) {
    return undefined; // a damaged or foreign entry is simply rebuilt
  }
  const image = new Float32Array(size * size);
  new Uint8Array(image.buffer).set(buffer.subarray(header));
  return { image, width: buffer.readUInt32LE(4), height: buffer.readUInt32LE(8), fromCache: true };
}

async function writeCache(
  path: string,
  image: Float32Array,
  width: number,
  height: number,
  size: number,
): Promise<void> {
  const header = Buffer.alloc(16);
  header.writeUInt32LE(MAGIC, 0);
  header.writeUInt32LE(width, 4);
  header.writeUInt32LE(height, 8);
  header.writeUInt32LE(size, 12);
  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(
    temp,
    Buffer.concat([header, Buffer.from(image.buffer, image.byteOffset, image.byteLength)]),
  );
  await rename(temp, path);
}
