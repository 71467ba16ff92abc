import {
  createUploadParams,
  encryptChunk,
  type Identity,
  signManifest,
  type UpdateManifest,
} from "../../shared/src/crypto/index.js";
import type { SealedUpdate } from "../../shared/src/fl/messages.js";
import {
  chunkBytes,
  DEFAULT_CHUNK_BYTES,
  serializeWeights,
  sha256Hex,
} from "../../shared/src/weights/index.js";
import type { ModelWeights } from "../../shared/src/weights/types.js";

/**
 * Seals an update for the coordinator: serialise the shared-tensor delta, hash it, encrypt it
 * chunk by chunk with the site–coordinator key, and sign a manifest that binds site, round,
 * model version, task and content hash. Pure apart from the random upload id and nonce prefix.
 */
export function sealUpdate(input: {
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
}): SealedUpdate {
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
