import {
  createUploadParams,
  encryptChunk,
  type Identity,
  signManifest,
  type UpdateManifest,
} from "../../shared/src/crypto/index.js";
import {
  chunkBytes,
  DEFAULT_CHUNK_BYTES,
  serializeWeights,
  sha256Hex,
} from "../../shared/src/weights/index.js";
import type { ModelWeights } from "../../shared/src/weights/types.js";

export interface PackedUpdate {
  readonly manifest: UpdateManifest;
  readonly signature: Uint8Array;
  /** Ciphertexts in order; chunk i is sealed under nonce (noncePrefix || i). */
  readonly chunks: readonly Uint8Array[];
}

/**
 * Seals an update for the coordinator: serialise the shared-tensor delta, hash it, encrypt it
 * chunk by chunk with the site–coordinator key, and sign a manifest that binds site, round,
 * model version, task and content hash. Pure apart from the random upload id and nonce prefix.
 */
export function packUpdate(input: {
  delta: ModelWeights;
  identity: Identity;
  key: Uint8Array;
  federationId: string;
  round: number;
  modelVersion: number;
  taskId: string;
  numExamples: number;
  chunkSize?: number;
  now?: () => number;
}): PackedUpdate {
  const bytes = serializeWeights(input.delta);
  const plainChunks = chunkBytes(bytes, input.chunkSize ?? DEFAULT_CHUNK_BYTES);
  const { uploadId, noncePrefix } = createUploadParams();
  const manifest: UpdateManifest = {
    federationId: input.federationId,
    siteId: input.identity.id,
    round: input.round,
    modelVersion: input.modelVersion,
    taskId: input.taskId,
    uploadId,
    noncePrefix,
    contentSha256: sha256Hex(bytes),
    plaintextBytes: bytes.length,
    numChunks: plainChunks.length,
    numExamples: input.numExamples,
    createdAtMs: (input.now ?? Date.now)(),
  };
  return {
    manifest,
    signature: signManifest(manifest, input.identity),
    chunks: plainChunks.map((chunk, i) => encryptChunk(chunk, i, noncePrefix, input.key)),
  };
}
