export { type CarryOver, carryOverWeights } from "./carry-over.js";
export { chunkBytes, concatChunks, DEFAULT_CHUNK_BYTES } from "./chunking.js";
export { sha256Hex } from "./hash.js";
export { assertSameManifest, createManifest, sameShape, type TensorDeclaration } from "./manifest.js";
export { applyDelta, assertFinite, cloneWeights, computeDelta, mergeTensors, selectTensors } from "./ops.js";
export { deserializeWeights, serializedLength, serializeWeights } from "./serialization.js";
export { matchingTensors, type SharingRule, sharingRule, withSharing } from "./sharing.js";
export type { ModelWeights, TensorSharing, TensorSpec, WeightsManifest } from "./types.js";
