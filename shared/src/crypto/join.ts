import nacl from "tweetnacl";
import { ErrorCode, FlError } from "../errors.js";
import { drawRandom, lengthPrefixed, type RandomSource, secureRandom, utf8 } from "./encoding.js";
import type { Identity, PublicIdentity } from "./keys.js";
import { signing } from "./primitives.js";

/** Size of the challenge createJoinChallenge makes. */
export const JOIN_CHALLENGE_BYTES = 32;
/** Shorter challenges are refused: they could repeat, and a repeated challenge allows replaying a join. */
export const JOIN_CHALLENGE_MIN_BYTES = 16;

const JOIN_DOMAIN = "fl.v1/join\0";

/** A fresh random challenge for one join attempt; the coordinator must never reuse it. */
export function createJoinChallenge(random: RandomSource = secureRandom): Uint8Array {
  return drawRandom(random, JOIN_CHALLENGE_BYTES);
}

/**
 * The bytes a site signs to join: the domain tag "fl.v1/join\0", then federation id, site id,
 * challenge and channel binding, each preceded by its u32 big-endian length so that no two
 * inputs give the same bytes. The channel binding is the lower-case hex SHA-256 of the site's TLS
 * client certificate (DER), or "" without one: a join signed on one mutual-TLS connection is
 * worthless on any other, so nobody can relay it. The domain tag keeps a join signature from ever
 * being valid as any other signed message.
 */
export function joinMessage(
  federationId: string,
  siteId: string,
  challenge: Uint8Array,
  channelBinding = "",
): Uint8Array {
  if (typeof federationId !== "string" || federationId.length === 0) {
    throw new FlError(ErrorCode.InvalidArgument, "The federation id of a join must be a non-empty string");
  }
  if (typeof siteId !== "string" || siteId.length === 0) {
    throw new FlError(ErrorCode.InvalidArgument, "The site id of a join must be a non-empty string");
  }
  if (!(challenge instanceof Uint8Array) || challenge.length < JOIN_CHALLENGE_MIN_BYTES) {
    throw new FlError(
      ErrorCode.InvalidArgument,
      `A join challenge must have at least ${JOIN_CHALLENGE_MIN_BYTES} random bytes`,
    );
  }
  return lengthPrefixed(JOIN_DOMAIN, [utf8(federationId), utf8(siteId), challenge, utf8(channelBinding)]);
}

export function signJoin(
  identity: Identity,
  federationId: string,
  challenge: Uint8Array,
  channelBinding = "",
): Uint8Array {
  return signing.sign(
    joinMessage(federationId, identity.id, challenge, channelBinding),
    identity.signing.secretKey,
  );
}

/** True only for a valid signature by `site` over this federation, its own id, this challenge and channel. Never throws. */
export function verifyJoin(
  site: PublicIdentity,
  federationId: string,
  challenge: Uint8Array,
  signature: Uint8Array,
  channelBinding = "",
): boolean {
  if (!(signature instanceof Uint8Array) || signature.length !== nacl.sign.signatureLength) return false;
  if (
    !(site.signingPublicKey instanceof Uint8Array) ||
    site.signingPublicKey.length !== nacl.sign.publicKeyLength
  ) {
    return false;
  }
  let message: Uint8Array;
  try {
    message = joinMessage(federationId, site.id, challenge, channelBinding);
  } catch {
    return false;
  }
  return signing.verify(message, signature, site.signingPublicKey);
}
