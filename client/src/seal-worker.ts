/**
 * The worker thread of seal-update.ts: hashes and encrypts serialised updates so that the
 * site's event loop (heartbeats, long-polls) keeps running meanwhile. One job at a time, in
 * the order they arrive; the buffers travel both ways by transfer, never by copy.
 */
import { parentPort } from "node:worker_threads";
import { type ErrorCode, FlError } from "../../shared/src/errors.js";
import { sealChunks } from "./seal-chunks.js";

export interface SealJob {
  readonly id: number;
  readonly bytes: Uint8Array;
  readonly chunkSize: number;
  readonly noncePrefix: string;
  readonly key: Uint8Array;
}

export type SealReply =
  | { readonly id: number; readonly contentSha256: string; readonly chunks: Uint8Array[] }
  | { readonly id: number; readonly error: { readonly code: ErrorCode; readonly message: string } };

const port = parentPort;
if (!port) throw new Error("seal-worker.ts runs only as a worker thread (see seal-update.ts)");
port.on("message", (job: SealJob) => {
  let reply: SealReply;
  try {
    reply = { id: job.id, ...sealChunks(job.bytes, job.chunkSize, job.noncePrefix, job.key) };
  } catch (error) {
    const failure = FlError.from(error);
    port.postMessage({ id: job.id, error: { code: failure.code, message: failure.message } });
    return;
  }
  // Each ciphertext owns its buffer (tweetnacl allocates one per box), so none is shared.
  port.postMessage(
    reply,
    reply.chunks.map((chunk) => chunk.buffer as ArrayBuffer),
  );
});
