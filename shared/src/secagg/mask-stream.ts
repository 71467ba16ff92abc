import { Buffer } from "node:buffer";
import { createCipheriv } from "node:crypto";
import nacl from "tweetnacl";
import { lengthPrefixed, utf8 } from "../crypto/encoding.js";
import { x25519 } from "../crypto/primitives.js";
import { ErrorCode } from "../errors.js";
import { SecAggError, SecAggReason } from "./errors.js";

/**
 * Mask expansion. A 32-byte seed keys ChaCha20 (RFC 8439, through node:crypto/OpenSSL) and the
 * keystream, read as little-endian u32 words, is the mask in Z_2^32. Why not Flower's SecAgg+
 * approach: it folds the shared secret down to a 32-bit seed for a non-cryptographic generator
 * (its issue #7522), so a 2^32 search recovers a pairwise mask from a masked update; here the
 * seed keeps all 256 bits and the stream is a cipher's, indistinguishable from uniform.
 * Each seed is used for one stream only (fresh keys per round, domain-separated derivation),
 * so the fixed all-zero nonce and counter never repeat a keystream.
 */
const CHUNK_WORDS = 1 << 16;
const ZERO_IV = Buffer.alloc(16);
const ZEROS = Buffer.alloc(CHUNK_WORDS * 4);

/** The host is little-endian (every platform Node supports today); masks would differ otherwise. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Adds (sign 1) or subtracts (sign −1) the mask of `seed` into `target`, modulo 2^32, in place. */
export function applyMask(target: Uint32Array, seed: Uint8Array, sign: 1 | -1): void {
  if (!LITTLE_ENDIAN) {
    throw new SecAggError(ErrorCode.Unsupported, SecAggReason.BadParams, "masks need a little-endian host");
  }
  if (seed.length !== 32) throw new RangeError(`a mask seed has 32 bytes, got ${seed.length}`);
  const cipher = createCipheriv("chacha20", seed, ZERO_IV);
  for (let start = 0; start < target.length; start += CHUNK_WORDS) {
    const words = Math.min(CHUNK_WORDS, target.length - start);
    const out = cipher.update(ZEROS.subarray(0, words * 4));
    // A Uint32Array view needs a 4-aligned offset; OpenSSL's output buffer may be pooled.
    const stream =
      out.byteOffset % 4 === 0
        ? new Uint32Array(out.buffer, out.byteOffset, words)
        : new Uint32Array(Uint8Array.from(out).buffer);
    if (sign === 1) {
      for (let i = 0; i < words; i++)
        target[start + i] = (target[start + i] as number) + (stream[i] as number);
    } else {
      for (let i = 0; i < words; i++)
        target[start + i] = (target[start + i] as number) - (stream[i] as number);
    }
  }
}

/** The mask itself (for tests and the benchmark): applyMask onto zeros. */
export function maskStream(seed: Uint8Array, length: number): Uint32Array {
  const out = new Uint32Array(length);
  applyMask(out, seed, 1);
  return out;
}

/** SHA-512 of length-prefixed fields under a domain tag, cut to `bytes`. */
export function hashFields(domain: string, fields: readonly Uint8Array[], bytes = 32): Uint8Array {
  return nacl.hash(lengthPrefixed(domain, fields)).slice(0, bytes);
}

export function u32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value >>> 0, false);
  return out;
}

/**
 * The pairwise mask seed of clients `a` and `b`: X25519(mine, theirs) hashed with the session,
 * the round and both ids in sorted order, so both ends derive the same seed and no other pair,
 * round or attempt shares it. Refuses a low-order public key (all-zero shared secret), which
 * would give a seed anyone can compute.
 */
export function pairwiseSeed(options: {
  mySecretKey: Uint8Array;
  theirPublicKey: Uint8Array;
  session: string;
  round: number;
  ids: readonly [string, string];
}): Uint8Array {
  const shared = x25519.scalarMult(options.mySecretKey, options.theirPublicKey);
  if (shared.every((byte) => byte === 0)) {
    throw new SecAggError(
      ErrorCode.InvalidArgument,
      SecAggReason.Malformed,
      "a mask public key is a low-order point: it would give a mask anyone can compute",
    );
  }
  const [low, high] = [...options.ids].sort() as [string, string];
  return hashFields("fl.secagg.v1.pair-mask", [
    utf8(options.session),
    u32(options.round),
    utf8(low),
    utf8(high),
    shared,
  ]);
}

/** The commitment to a self-mask seed the server checks reconstruction against. */
export function selfMaskCommitment(options: {
  seed: Uint8Array;
  session: string;
  round: number;
  dealer: string;
}): Uint8Array {
  return hashFields("fl.secagg.v1.self-mask-commitment", [
    utf8(options.session),
    u32(options.round),
    utf8(options.dealer),
    options.seed,
  ]);
}
