export { canonicalJson } from "./canonical-json.js";
export {
  CHUNK_OVERHEAD_BYTES,
  chunkNonce,
  createUploadParams,
  decryptChunk,
  encryptChunk,
  NONCE_PREFIX_BYTES,
  sharedKey,
} from "./chunk-box.js";
export { fromBase64, type RandomSource, toBase64 } from "./encoding.js";
export {
  IDENTITY_KIND,
  identityFromJson,
  identityToJson,
  PUBLIC_IDENTITY_KIND,
  publicIdentityFromJson,
  publicIdentityToJson,
} from "./identity-json.js";
export {
  createJoinChallenge,
  JOIN_CHALLENGE_BYTES,
  JOIN_CHALLENGE_MIN_BYTES,
  joinMessage,
  signJoin,
  verifyJoin,
} from "./join.js";
export {
  assertValidIdentityId,
  generateIdentity,
  IDENTITY_ID_PATTERN,
  type Identity,
  type KeyPair,
  keyFingerprint,
  type PublicIdentity,
  publicIdentity,
} from "./keys.js";
export {
  manifestSigningBytes,
  signManifest,
  type UpdateManifest,
  validateUpdateManifest,
  verifyManifest,
} from "./update-manifest.js";
