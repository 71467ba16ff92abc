import { encryptChunk } from "../../shared/src/crypto/index.js";
import { chunkBytes, sha256Hex } from "../../shared/src/weights/index.js";

/** The costly part of sealing: the plaintext's hash and its chunks, each encrypted. */
export interface SealedChunks {
  readonly contentSha256: string;
  readonly chunks: Uint8Array[];
}

/** Hashes a serialised update and encrypts it chunk by chunk; the same code runs in and off the thread. */
export function sealChunks(
  bytes: Uint8Array,
  chunkSize: number,
  noncePrefix: string,
  key: Uint8Array,
): SealedChunks {
  return {
    contentSha256: sha256Hex(bytes),
    chunks: chunkBytes(bytes, chunkSize).map((chunk, i) => encryptChunk(chunk, i, noncePrefix, key)),
  };
}
