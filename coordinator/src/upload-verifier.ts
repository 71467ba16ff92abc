import {
  CHUNK_OVERHEAD_BYTES,
  decryptChunk,
  type PublicIdentity,
  type UpdateManifest,
  verifyManifest,
} from "../../shared/src/crypto/index.js";
import { ErrorCode, FlError } from "../../shared/src/errors.js";
import {
  assertFinite,
  assertSameManifest,
  deserializeWeights,
  sha256Hex,
} from "../../shared/src/weights/index.js";
import type { ModelWeights, WeightsManifest } from "../../shared/src/weights/types.js";

/** Largest plaintext a single chunk may carry (the protocol streams ~1 MiB chunks). */
export const MAX_CHUNK_PLAINTEXT_BYTES = 4 << 20;

export interface ExpectedUpload {
  readonly federationId: string;
  readonly siteId: string;
  readonly round: number;
  readonly modelVersion: number;
  readonly taskId: string;
  /** Manifest of the shared tensors the update must contain, exactly. */
  readonly sharedManifest: WeightsManifest;
  readonly maxUpdateBytes: number;
}

/**
 * Checks an update's signed header before any chunk is read: who signed it, for which round,
 * model version and task, and whether its announced size is acceptable. Throws FlError with a
 * specific code; the caller turns it into a verdict.
 */
export function checkUploadHeader(
  manifest: UpdateManifest,
  signature: Uint8Array,
  signer: PublicIdentity,
  expected: ExpectedUpload,
): void {
  if (manifest.siteId !== expected.siteId) {
    throw new FlError(
      ErrorCode.Unauthenticated,
      `update manifest names site "${manifest.siteId}" but the session belongs to "${expected.siteId}"`,
    );
  }
  if (!verifyManifest(manifest, signature, signer)) {
    throw new FlError(
      ErrorCode.SignatureInvalid,
      `update manifest signature of "${manifest.siteId}" does not verify against its enrolled key`,
    );
  }
  if (manifest.federationId !== expected.federationId) {
    throw new FlError(
      ErrorCode.WrongRound,
      `update is for federation "${manifest.federationId}", this is "${expected.federationId}"`,
    );
  }
  if (
    manifest.round !== expected.round ||
    manifest.modelVersion !== expected.modelVersion ||
    manifest.taskId !== expected.taskId
  ) {
    throw new FlError(
      ErrorCode.WrongRound,
      `update is for round ${manifest.round} / model v${manifest.modelVersion} / task ${manifest.taskId}; the open task of "${expected.siteId}" is round ${expected.round} / model v${expected.modelVersion} / task ${expected.taskId}`,
    );
  }
  if (manifest.plaintextBytes > expected.maxUpdateBytes) {
    throw new FlError(
      ErrorCode.TooLarge,
      `update of ${manifest.plaintextBytes} bytes exceeds the limit of ${expected.maxUpdateBytes}`,
    );
  }
  const minChunks = Math.ceil(manifest.plaintextBytes / MAX_CHUNK_PLAINTEXT_BYTES);
  if (manifest.numChunks < minChunks || manifest.numChunks > Math.max(1, manifest.plaintextBytes)) {
    throw new FlError(
      ErrorCode.InvalidArgument,
      `update announces ${manifest.numChunks} chunks for ${manifest.plaintextBytes} bytes`,
    );
  }
  if (!(manifest.numExamples > 0)) {
    throw new FlError(
      ErrorCode.InvalidArgument,
      `update reports ${manifest.numExamples} training examples; need > 0`,
    );
  }
}

/**
 * Decrypts chunks in order into one preallocated buffer (no more memory than the announced
 * size), then verifies hash, shape and finiteness.
 */
export class UploadAssembler {
  private readonly buffer: Uint8Array;
  private filled = 0;
  private nextIndex = 0;

  constructor(
    private readonly manifest: UpdateManifest,
    private readonly key: Uint8Array,
    private readonly sharedManifest: WeightsManifest,
  ) {
    this.buffer = new Uint8Array(manifest.plaintextBytes);
  }

  addChunk(index: number, ciphertext: Uint8Array): void {
    if (index !== this.nextIndex) {
      throw new FlError(
        ErrorCode.InvalidArgument,
        `chunk ${index} arrived where chunk ${this.nextIndex} was expected`,
      );
    }
    if (index >= this.manifest.numChunks) {
      throw new FlError(
        ErrorCode.InvalidArgument,
        `chunk ${index} is beyond the announced ${this.manifest.numChunks} chunks`,
      );
    }
    if (ciphertext.length > MAX_CHUNK_PLAINTEXT_BYTES + CHUNK_OVERHEAD_BYTES) {
      throw new FlError(
        ErrorCode.TooLarge,
        `chunk ${index} is ${ciphertext.length} bytes; the limit is ${MAX_CHUNK_PLAINTEXT_BYTES + CHUNK_OVERHEAD_BYTES}`,
      );
    }
    const plain = decryptChunk(ciphertext, index, this.manifest.noncePrefix, this.key);
    if (this.filled + plain.length > this.buffer.length) {
      throw new FlError(
        ErrorCode.TooLarge,
        `chunks exceed the announced ${this.manifest.plaintextBytes} bytes`,
      );
    }
    this.buffer.set(plain, this.filled);
    this.filled += plain.length;
    this.nextIndex++;
  }

  isComplete(): boolean {
    return this.nextIndex === this.manifest.numChunks && this.filled === this.buffer.length;
  }

  /** Returns the verified update weights (the shared tensors' deltas). */
  finish(): ModelWeights {
    if (this.nextIndex !== this.manifest.numChunks || this.filled !== this.buffer.length) {
      throw new FlError(
        ErrorCode.InvalidArgument,
        `upload ended after ${this.nextIndex}/${this.manifest.numChunks} chunks and ${this.filled}/${this.buffer.length} bytes`,
      );
    }
    const hash = sha256Hex(this.buffer);
    if (hash !== this.manifest.contentSha256) {
      throw new FlError(
        ErrorCode.HashMismatch,
        `update content hash ${hash} differs from the signed ${this.manifest.contentSha256}`,
      );
    }
    const weights = deserializeWeights(this.buffer);
    assertSameManifest(this.sharedManifest, weights.manifest);
    assertFinite(weights);
    return weights;
  }
}
