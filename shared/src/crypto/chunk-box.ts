import nacl from "tweetnacl";
import { ErrorCode, FlError } from "../errors.js";
import { drawRandom, fromBase64, type RandomSource, secureRandom, toBase64, toHex } from "./encoding.js";
import { secretbox, x25519 } from "./primitives.js";

/** Random bytes at the start of every chunk nonce; the other 8 are the chunk index. */
export const NONCE_PREFIX_BYTES = 16;
/** Poly1305 tag added to each chunk: ciphertext length = plaintext length + this. */
export const CHUNK_OVERHEAD_BYTES = nacl.secretbox.overheadLength;

/** Fresh per-upload values: an id for replay detection and the nonce prefix. */
export function createUploadParams(random: RandomSource = secureRandom): {
  uploadId: string;
  noncePrefix: string;
} {
  return {
    uploadId: toHex(drawRandom(random, 16)),
    noncePrefix: toBase64(drawRandom(random, NONCE_PREFIX_BYTES)),
  };
}

/**
 * The 24-byte nonce of chunk `index`: 16-byte prefix || u64 big-endian index. Distinct for every
 * chunk of an upload, and a chunk moved to another index (or another upload) fails to open.
 */
export function chunkNonce(noncePrefix: string, index: number): Uint8Array {
  const prefix = fromBase64(noncePrefix);
  if (prefix === undefined || prefix.length !== NONCE_PREFIX_BYTES) {
    throw new FlError(
      ErrorCode.InvalidArgument,
      `Nonce prefix must be base64 of ${NONCE_PREFIX_BYTES} bytes`,
    );
  }
  if (!Number.isSafeInteger(index) || index < 0) {
    throw new FlError(ErrorCode.InvalidArgument, `Chunk index must be a non-negative integer, got ${index}`);
  }
  const nonce = new Uint8Array(nacl.secretbox.nonceLength);
  nonce.set(prefix, 0);
  const view = new DataView(nonce.buffer);
  view.setUint32(NONCE_PREFIX_BYTES, Math.floor(index / 2 ** 32), false);
  view.setUint32(NONCE_PREFIX_BYTES + 4, index >>> 0, false);
  return nonce;
}

/** XSalsa20-Poly1305 with the key from sharedKey(); output is 16 bytes longer than the input. */
export function encryptChunk(
  plaintext: Uint8Array,
  index: number,
  noncePrefix: string,
  sharedKey: Uint8Array,
): Uint8Array {
  assertKey(sharedKey);
  return secretbox.seal(plaintext, chunkNonce(noncePrefix, index), sharedKey);
}

/** FlError(DecryptionFailed) naming the chunk when it was tampered with, moved, or is for another key. */
export function decryptChunk(
  ciphertext: Uint8Array,
  index: number,
  noncePrefix: string,
  sharedKey: Uint8Array,
): Uint8Array {
  assertKey(sharedKey);
  const nonce = chunkNonce(noncePrefix, index);
  const plaintext =
    ciphertext.length < CHUNK_OVERHEAD_BYTES ? null : secretbox.open(ciphertext, nonce, sharedKey);
  if (plaintext === null) {
    throw new FlError(
      ErrorCode.DecryptionFailed,
      `Chunk ${index} failed authentication: it was altered, sent at another position, or encrypted for a different key`,
    );
  }
  return plaintext;
}

/**
 * The symmetric key two parties share (X25519 + HSalsa20, nacl.box.before). Refuses public keys
 * that are low-order points, which would give a key anyone can compute.
 */
export function sharedKey(mySecretKey: Uint8Array, theirPublicKey: Uint8Array): Uint8Array {
  if (mySecretKey.length !== nacl.box.secretKeyLength) {
    throw new FlError(
      ErrorCode.InvalidArgument,
      `X25519 secret key must be ${nacl.box.secretKeyLength} bytes`,
    );
  }
  if (theirPublicKey.length !== nacl.box.publicKeyLength) {
    throw new FlError(
      ErrorCode.InvalidArgument,
      `X25519 public key must be ${nacl.box.publicKeyLength} bytes`,
    );
  }
  if (x25519.scalarMult(mySecretKey, theirPublicKey).every((byte) => byte === 0)) {
    throw new FlError(
      ErrorCode.InvalidArgument,
      "X25519 public key is a low-order point; refusing to derive a key",
    );
  }
  return x25519.boxBefore(theirPublicKey, mySecretKey);
}

function assertKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== nacl.secretbox.keyLength) {
    throw new FlError(ErrorCode.InvalidArgument, `Chunk key must be ${nacl.secretbox.keyLength} bytes`);
  }
}
