import nacl from "tweetnacl";
import { bytesEqual, drawRandom, lengthPrefixed, type RandomSource, utf8 } from "../crypto/encoding.js";
import { u32 } from "./mask-stream.js";
import { SHARE_BYTES, shareFromBytes, shareToBytes } from "./shamir.js";

const DOMAIN = "fl.secagg.v1.share";

/** Who dealt a share pair to whom, in which round: bound into the plaintext. */
export interface ShareAddress {
  readonly session: string;
  readonly round: number;
  readonly dealer: string;
  readonly holder: string;
}

/** A holder's shares of one dealer's two secrets. */
export interface SharePair {
  readonly selfMask: bigint;
  readonly maskKey: bigint;
}

function header(address: ShareAddress): Uint8Array {
  return lengthPrefixed(DOMAIN, [
    utf8(address.session),
    u32(address.round),
    utf8(address.dealer),
    utf8(address.holder),
  ]);
}

/**
 * Seals a share pair for its holder with nacl.box (X25519 + XSalsa20-Poly1305, dealer's
 * encryption key to the holder's). The address is inside the plaintext (Bonawitz et al.'s
 * u ‖ v ‖ shares) so that a relayed ciphertext moved to another holder, dealer or round is
 * noticed even where the box key alone would not tell.
 */
export function sealSharePair(
  pair: SharePair,
  address: ShareAddress,
  keys: { dealerSecretKey: Uint8Array; holderPublicKey: Uint8Array; random: RandomSource },
): { nonce: Uint8Array; ciphertext: Uint8Array } {
  const plaintext = lengthPrefixed(DOMAIN, [
    utf8(address.session),
    u32(address.round),
    utf8(address.dealer),
    utf8(address.holder),
    shareToBytes(pair.selfMask),
    shareToBytes(pair.maskKey),
  ]);
  const nonce = drawRandom(keys.random, nacl.box.nonceLength);
  return { nonce, ciphertext: nacl.box(plaintext, nonce, keys.holderPublicKey, keys.dealerSecretKey) };
}

/** The share pair inside a sealed share, or undefined if it does not open or is for another address. */
export function openSharePair(
  sealed: { nonce: Uint8Array; ciphertext: Uint8Array },
  address: ShareAddress,
  keys: { holderSecretKey: Uint8Array; dealerPublicKey: Uint8Array },
): SharePair | undefined {
  if (!(sealed.nonce instanceof Uint8Array) || sealed.nonce.length !== nacl.box.nonceLength) return undefined;
  if (!(sealed.ciphertext instanceof Uint8Array)) return undefined;
  const plaintext = nacl.box.open(
    sealed.ciphertext,
    sealed.nonce,
    keys.dealerPublicKey,
    keys.holderSecretKey,
  );
  if (plaintext === null) return undefined;
  const head = header(address);
  const field = 4 + SHARE_BYTES;
  if (plaintext.length !== head.length + 2 * field || !bytesEqual(plaintext.subarray(0, head.length), head)) {
    return undefined;
  }
  const read = (offset: number): bigint | undefined => {
    const length = new DataView(plaintext.buffer, plaintext.byteOffset + offset, 4).getUint32(0, false);
    return length === SHARE_BYTES
      ? shareFromBytes(plaintext.subarray(offset + 4, offset + field))
      : undefined;
  };
  const selfMask = read(head.length);
  const maskKey = read(head.length + field);
  return selfMask === undefined || maskKey === undefined ? undefined : { selfMask, maskKey };
}
