import { createHash } from "node:crypto";
import nacl from "tweetnacl";
import { ErrorCode, FlError } from "../errors.js";
import { drawRandom, type RandomSource, secureRandom } from "./encoding.js";
import { signing } from "./primitives.js";

export interface KeyPair {
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
}

/** A participant's long-term keys. Secret: stays on the machine it was generated for. */
export interface Identity {
  /** Site (or coordinator) id, also the name on the coordinator's allowlist. */
  readonly id: string;
  /** Ed25519: signs join challenges and update manifests. Secret key is 64 bytes (seed || public). */
  readonly signing: KeyPair;
  /** X25519: derives the key that encrypts update chunks. Both keys are 32 bytes. */
  readonly encryption: KeyPair;
}

/** What others may know about an identity: what the coordinator's allowlist stores. */
export interface PublicIdentity {
  readonly id: string;
  readonly signingPublicKey: Uint8Array;
  readonly encryptionPublicKey: Uint8Array;
}

/** Lower-case, starts with a letter or digit, at most 63 characters: safe in file names and logs. */
export const IDENTITY_ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export function assertValidIdentityId(id: unknown): asserts id is string {
  if (typeof id !== "string" || !IDENTITY_ID_PATTERN.test(id)) {
    throw new FlError(
      ErrorCode.InvalidArgument,
      `Invalid id ${JSON.stringify(id)}: use 1-63 characters from a-z, 0-9, ".", "_", "-", starting with a letter or digit`,
    );
  }
}

/** New Ed25519 + X25519 keys for `id`. `random` defaults to node:crypto; pass one only in tests. */
export function generateIdentity(id: string, random: RandomSource = secureRandom): Identity {
  assertValidIdentityId(id);
  const signingPair = signing.keyPairFromSeed(drawRandom(random, nacl.sign.seedLength));
  const encryption = nacl.box.keyPair.fromSecretKey(drawRandom(random, nacl.box.secretKeyLength));
  return Object.freeze({
    id,
    signing: Object.freeze({ publicKey: signingPair.publicKey, secretKey: signingPair.secretKey }),
    encryption: Object.freeze({ publicKey: encryption.publicKey, secretKey: encryption.secretKey }),
  });
}

export function publicIdentity(identity: Identity): PublicIdentity {
  return Object.freeze({
    id: identity.id,
    signingPublicKey: identity.signing.publicKey,
    encryptionPublicKey: identity.encryption.publicKey,
  });
}

/** First 16 hex digits of SHA-256(publicKey): enough to tell keys apart in logs. Never pass a secret key. */
export function keyFingerprint(publicKey: Uint8Array): string {
  return createHash("sha256").update(publicKey).digest("hex").slice(0, 16);
}
