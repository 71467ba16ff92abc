/**
 * The worker thread of opening-pool.ts: decrypts upload chunks into the upload's buffer and
 * hashes them as they come, so that the coordinator's event loop (heartbeats, other streams)
 * keeps running meanwhile. Messages of one upload are handled in the order they were posted;
 * ciphertexts arrive and the finished buffer leaves by transfer, never by copy.
 */
import { createHash, type Hash } from "node:crypto";
import { parentPort } from "node:worker_threads";
import { decryptChunk } from "../../../shared/src/crypto/index.js";
import { ErrorCode, FlError } from "../../../shared/src/errors.js";

export type OpeningJob =
  | {
      readonly kind: "begin";
      readonly id: number;
      readonly key: Uint8Array;
      readonly noncePrefix: string;
      readonly plaintextBytes: number;
    }
  | { readonly kind: "chunk"; readonly id: number; readonly index: number; readonly ciphertext: Uint8Array }
  | { readonly kind: "finish"; readonly id: number }
  | { readonly kind: "drop"; readonly id: number };

export type OpeningReply =
  | { readonly kind: "opened"; readonly id: number; readonly bytes: Uint8Array; readonly sha256: string }
  | {
      readonly kind: "failed";
      readonly id: number;
      readonly error: { readonly code: ErrorCode; readonly message: string };
    };

interface Upload {
  readonly key: Uint8Array;
  readonly noncePrefix: string;
  readonly buffer: Uint8Array;
  readonly hash: Hash;
  filled: number;
  /** After its first failure an upload only waits to be dropped. */
  failed: boolean;
}

const port = parentPort;
if (!port) throw new Error("opening-worker.ts runs only as a worker thread (see opening-pool.ts)");
const uploads = new Map<number, Upload>();

function fail(id: number, error: unknown): void {
  const upload = uploads.get(id);
  if (upload) upload.failed = true;
  const failure = FlError.from(error);
  port?.postMessage({
    kind: "failed",
    id,
    error: { code: failure.code, message: failure.message },
  } satisfies OpeningReply);
}

function addChunk(upload: Upload, index: number, ciphertext: Uint8Array): void {
  const plain = decryptChunk(ciphertext, index, upload.noncePrefix, upload.key);
  // The coordinator checked the sizes before posting; this guards the buffer all the same.
  if (upload.filled + plain.length > upload.buffer.length)
    throw new FlError(ErrorCode.TooLarge, "chunks exceed the announced size");
  upload.buffer.set(plain, upload.filled);
  upload.filled += plain.length;
  upload.hash.update(plain);
}

port.on("message", (job: OpeningJob) => {
  if (job.kind === "begin") {
    uploads.set(job.id, {
      key: job.key,
      noncePrefix: job.noncePrefix,
      buffer: new Uint8Array(job.plaintextBytes),
      hash: createHash("sha256"),
      filled: 0,
      failed: false,
    });
    return;
  }
  const upload = uploads.get(job.id);
  if (job.kind === "drop" || !upload) {
    uploads.delete(job.id);
    return;
  }
  if (upload.failed) return;
  if (job.kind === "chunk") {
    try {
      addChunk(upload, job.index, job.ciphertext);
    } catch (error) {
      fail(job.id, error);
    }
    return;
  }
  uploads.delete(job.id);
  const reply: OpeningReply = {
    kind: "opened",
    id: job.id,
    bytes: upload.buffer,
    sha256: upload.hash.digest("hex"),
  };
  port.postMessage(reply, [upload.buffer.buffer as ArrayBuffer]);
});
