import {
  CHUNK_OVERHEAD_BYTES,
  decryptChunk,
  type PublicIdentity,
  type UpdateManifest,
  verifyManifest,
} from "../../../shared/src/crypto/index.js";
import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import {
  assertFinite,
  assertSameManifest,
  deserializeWeights,
  serializedLength,
} from "../../../shared/src/weights/index.js";
import type { ModelWeights, WeightsManifest } from "../../../shared/src/weights/types.js";
import type { Opening } from "./opening-pool.js";

/** Largest plaintext a single chunk may carry (the protocol streams ~1 MiB chunks). */
const MAX_CHUNK_PLAINTEXT_BYTES = 4 << 20;

/** What names a training task in an update's manifest. */
export interface TaskRef {
  readonly round: number;
  readonly modelVersion: number;
  readonly taskId: string;
}

export interface ExpectedUpload<Task extends TaskRef> {
  readonly federationId: string;
  /** The site of the session the upload arrived on. */
  readonly siteId: string;
  readonly maxUpdateBytes: number;
  /** The site's open training task; undefined when it has none. */
  readonly task: Task | undefined;
  /** What an update of the open round's shared tensors can measure; absent with no round open. */
  readonly size?: UpdateSize;
}

/**
 * The sizes an update of a set of shared tensors can have: its float32 values are fixed by the
 * tensors, only the FLW1 header (JSON) can differ between clients. The header may be formatted
 * differently from ours (spaces, indentation, key order) up to four times its canonical length
 * plus 1 KiB; that keeps the bound within kilobytes of the true size.
 */
export interface UpdateSize {
  /** What serializeWeights writes. */
  readonly canonical: number;
  readonly min: number;
  readonly max: number;
}

/** 8 bytes of "FLW1" and the header length come before the header. */
const FLW1_PREFIX_BYTES = 8;

export function updateSizeOf(shared: WeightsManifest): UpdateSize {
  const canonical = serializedLength(shared);
  const valueBytes = shared.totalLength * 4;
  const header = canonical - valueBytes - FLW1_PREFIX_BYTES;
  return {
    canonical,
    min: FLW1_PREFIX_BYTES + valueBytes,
    max: FLW1_PREFIX_BYTES + valueBytes + 4 * header + 1024,
  };
}

/**
 * Checks that an update's manifest was signed by the site of the session it arrived on. Nothing
 * else in an unverified manifest is believed (or stored): FlError(Unauthenticated) for a manifest
 * naming another site, FlError(SignatureInvalid) for a forgery.
 */
export function checkUploadSignature(
  manifest: UpdateManifest,
  signature: Uint8Array,
  signer: PublicIdentity,
  siteId: string,
): void {
  if (manifest.siteId !== siteId) {
    throw new FlError(
      ErrorCode.Unauthenticated,
      `update manifest names site "${manifest.siteId}" but the session belongs to "${siteId}"`,
    );
  }
  if (!verifyManifest(manifest, signature, signer)) {
    throw new FlError(
      ErrorCode.SignatureInvalid,
      `update manifest signature of "${manifest.siteId}" does not verify against its enrolled key`,
    );
  }
}

/**
 * Checks a verified update header before any chunk is read: for which federation, round, model
 * version and task, and whether its announced size is acceptable. Throws FlError with a specific
 * code; the caller turns it into a verdict. Returns the task the update is for.
 */
export function checkUploadHeader<Task extends TaskRef>(
  manifest: UpdateManifest,
  expected: ExpectedUpload<Task>,
): Task {
  if (manifest.federationId !== expected.federationId) {
    throw new FlError(
      ErrorCode.WrongRound,
      `update is for federation "${manifest.federationId}", this is "${expected.federationId}"`,
    );
  }
  const claimed = `round ${manifest.round} / model v${manifest.modelVersion} / task ${manifest.taskId}`;
  const { task } = expected;
  if (!task) {
    throw new FlError(
      ErrorCode.WrongRound,
      `update is for ${claimed}; "${expected.siteId}" has no open training task`,
    );
  }
  if (
    manifest.round !== task.round ||
    manifest.modelVersion !== task.modelVersion ||
    manifest.taskId !== task.taskId
  ) {
    throw new FlError(
      ErrorCode.WrongRound,
      `update is for ${claimed}; the open task of "${expected.siteId}" is round ${task.round} / model v${task.modelVersion} / task ${task.taskId}`,
    );
  }
  if (manifest.plaintextBytes > expected.maxUpdateBytes) {
    throw new FlError(
      ErrorCode.TooLarge,
      `update of ${manifest.plaintextBytes} bytes exceeds the limit of ${expected.maxUpdateBytes}`,
    );
  }
  const { size } = expected;
  if (size && manifest.plaintextBytes > size.max) {
    throw new FlError(
      ErrorCode.TooLarge,
      `update of ${manifest.plaintextBytes} bytes is larger than the round's shared tensors can be (${size.canonical} bytes serialised, at most ${size.max} with another header layout)`,
    );
  }
  if (size && manifest.plaintextBytes < size.min) {
    throw new FlError(
      ErrorCode.WeightsShapeMismatch,
      `update of ${manifest.plaintextBytes} bytes is smaller than the round's shared tensors (${size.canonical} bytes serialised, at least ${size.min})`,
    );
  }
  const minChunks = Math.ceil(manifest.plaintextBytes / MAX_CHUNK_PLAINTEXT_BYTES);
  if (manifest.numChunks < minChunks || manifest.numChunks > Math.max(1, manifest.plaintextBytes)) {
    throw new FlError(
      ErrorCode.InvalidArgument,
      `update announces ${manifest.numChunks} chunks for ${manifest.plaintextBytes} bytes; need ${minChunks} to ${Math.max(1, manifest.plaintextBytes)} (at most ${MAX_CHUNK_PLAINTEXT_BYTES} bytes per chunk)`,
    );
  }
  return task;
}

/**
 * Takes chunks in order and has them decrypted on an opening thread into one preallocated buffer
 * (no more memory than the announced size), then verifies hash, shape and finiteness. Sizes and
 * order are checked here as each chunk arrives; a chunk that fails to open is known a little
 * later, from the thread (Opening.failure, and the pool's onFailure).
 */
export class UploadAssembler {
  private filled = 0;
  private nextIndex = 0;

  constructor(
    private readonly manifest: UpdateManifest,
    private readonly opening: Opening,
    private readonly sharedManifest: WeightsManifest,
  ) {}

  addChunk(index: number, ciphertext: Uint8Array): void {
    const failure = this.opening.failure();
    if (failure) throw failure;
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
    // Too short to hold a tag: refused here, with the message a failed opening gives.
    if (ciphertext.length < CHUNK_OVERHEAD_BYTES)
      decryptChunk(ciphertext, index, this.manifest.noncePrefix, new Uint8Array(32));
    const plainLength = ciphertext.length - CHUNK_OVERHEAD_BYTES;
    if (this.filled + plainLength > this.manifest.plaintextBytes) {
      throw new FlError(
        ErrorCode.TooLarge,
        `chunks exceed the announced ${this.manifest.plaintextBytes} bytes`,
      );
    }
    this.opening.add(index, ciphertext);
    this.filled += plainLength;
    this.nextIndex++;
  }

  isComplete(): boolean {
    return this.nextIndex === this.manifest.numChunks && this.filled === this.manifest.plaintextBytes;
  }

  /** Frees what the opening thread holds of an upload that will not finish. */
  drop(): void {
    this.opening.drop();
  }

  /** Returns the verified update weights (the shared tensors' deltas). */
  async finish(): Promise<ModelWeights> {
    // The opened plaintext is this upload's alone (transferred from the opening thread).
    const weights = deserializeWeights(await this.finishBytes(), { adopt: true });
    assertSameManifest(this.sharedManifest, weights.manifest);
    assertFinite(weights);
    return weights;
  }

  /** The plaintext once complete and matching its signed hash (a masked secure-aggregation input). */
  async finishBytes(): Promise<Uint8Array> {
    if (!this.isComplete()) {
      this.opening.drop();
      throw new FlError(
        ErrorCode.InvalidArgument,
        `upload ended after ${this.nextIndex}/${this.manifest.numChunks} chunks and ${this.filled}/${this.manifest.plaintextBytes} bytes`,
      );
    }
    const { bytes, sha256 } = await this.opening.finish();
    if (sha256 !== this.manifest.contentSha256) {
      throw new FlError(
        ErrorCode.HashMismatch,
        `update content hash ${sha256} differs from the signed ${this.manifest.contentSha256}`,
      );
    }
    return bytes;
  }
}
