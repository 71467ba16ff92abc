import nacl from "tweetnacl";
import { ErrorCode, FlError } from "../errors.js";
import { drawRandom, type RandomSource, secureRandom } from "./encoding.js";
import type { Identity, PublicIdentity } from "./keys.js";

/** Size of the challenge createJoinChallenge makes. */
export const JOIN_CHALLENGE_BYTES = 32;
/** Shorter challenges are refused: they could repeat, and a repeated challenge allows replaying a join. */
export const JOIN_CHALLENGE_MIN_BYTES = 16;

const JOIN_DOMAIN = new TextEncoder().encode("fl.v1/join\0");

/** A fresh random challenge for one join attempt; the coordinator must never reuse it. */
export function createJoinChallenge(random: RandomSource = secureRandom): Uint8Array {
  return drawRandom(random, JOIN_CHALLENGE_BYTES);
}

/**
 * The bytes a site signs to join: the domain tag "fl.v1/join\0", then federation id, site id and
 * challenge, each preceded by its u32 big-endian length so that no two inputs give the same bytes.
 * The domain tag keeps a join signature from ever being valid as any other signed message.
 */
export function joinMessage(federationId: string, siteId: string, challenge: Uint8Array): Uint8Array {
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
  const encoder = new TextEncoder();
  return lengthPrefixed(JOIN_DOMAIN, [encoder.encode(federationId), encoder.encode(siteId), challenge]);
}

export function signJoin(identity: Identity, federationId: string, challenge: Uint8Array): Uint8Array {
  return nacl.sign.detached(joinMessage(federationId, identity.id, challenge), identity.signing.secretKey);
}

/** True only for a valid signature by `site` over this federation, its own id and this challenge. Never throws. */
export function verifyJoin(
  site: PublicIdentity,
  federationId: string,
  challenge: Uint8Array,
  signature: Uint8Array,
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
    message = joinMessage(federationId, site.id, challenge);
  } catch {
    return false;
  }
  return nacl.sign.detached.verify(message, signature, site.signingPublicKey);
}

function lengthPrefixed(domain: Uint8Array, fields: readonly Uint8Array[]): Uint8Array {
  const total = fields.reduce((sum, field) => sum + 4 + field.length, domain.length);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  out.set(domain, 0);
  let offset = domain.length;
  for (const field of fields) {
    view.setUint32(offset, field.length, false);
    out.set(field, offset + 4);
    offset += 4 + field.length;
  }
  return out;
}
