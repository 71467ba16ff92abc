import { ErrorCode, FlError } from "../errors.js";

/** 1 MiB: well under gRPC's 4 MiB default message limit, large enough to keep overhead small. */
export const DEFAULT_CHUNK_BYTES = 1 << 20;

/**
 * Splits `bytes` into views (no copies) of `chunkSize` bytes; the last may be shorter.
 * Empty input gives no chunks.
 */
export function chunkBytes(bytes: Uint8Array, chunkSize: number = DEFAULT_CHUNK_BYTES): Uint8Array[] {
  if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) {
    throw new FlError(ErrorCode.InvalidArgument, `Chunk size must be a positive integer, got ${chunkSize}`);
  }
  const chunks: Uint8Array[] = [];
  for (let start = 0; start < bytes.length; start += chunkSize) {
    chunks.push(bytes.subarray(start, Math.min(start + chunkSize, bytes.length)));
  }
  return chunks;
}

/** Joins chunks into one new buffer. With `expectedTotal`, a different total size is an error. */
export function concatChunks(chunks: readonly Uint8Array[], expectedTotal?: number): Uint8Array {
  let total = 0;
  for (const chunk of chunks) total += chunk.length;
  if (expectedTotal !== undefined && total !== expectedTotal) {
    throw new FlError(
      ErrorCode.InvalidArgument,
      `Received ${total} bytes in ${chunks.length} chunks, expected ${expectedTotal} bytes`,
    );
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
