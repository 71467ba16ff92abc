import { Worker } from "node:worker_threads";
import {
  createUploadParams,
  type Identity,
  type RandomSource,
  signManifest,
  type UpdateManifest,
} from "../../shared/src/crypto/index.js";
import { FlError } from "../../shared/src/errors.js";
import type { SealedUpdate } from "../../shared/src/fl/messages.js";
import { DEFAULT_CHUNK_BYTES, serializeWeights } from "../../shared/src/weights/index.js";
import type { ModelWeights } from "../../shared/src/weights/types.js";
import { type SealedChunks, sealChunks } from "./seal-chunks.js";
import type { SealJob, SealReply } from "./seal-worker.js";

export interface SealInput {
  readonly delta: ModelWeights;
  readonly identity: Identity;
  readonly key: Uint8Array;
  readonly federationId: string;
  readonly round: number;
  readonly modelVersion: number;
  readonly taskId: string;
  readonly numExamples: number;
  readonly chunkSize?: number;
  readonly now?: () => number;
  /** Draws the upload id and nonce prefix; default: the system's secure random source. */
  readonly random?: RandomSource;
}

/**
 * Seals an update for the coordinator: serialise the shared-tensor delta, hash it, encrypt it
 * chunk by chunk with the site–coordinator key, and sign a manifest that binds site, round,
 * model version, task and content hash. The hashing and encryption (seconds for a large model)
 * run on a worker thread, so that heartbeats keep flowing meanwhile; the result is byte for
 * byte what sealUpdateInThread gives for the same inputs.
 */
export async function sealUpdate(input: SealInput): Promise<SealedUpdate> {
  const { bytes, chunkSize, uploadId, noncePrefix } = prepare(input);
  return finish(
    input,
    bytes.length,
    uploadId,
    noncePrefix,
    await sealer.run({ bytes, chunkSize, noncePrefix, key: input.key }),
  );
}

/**
 * sealUpdate for a plaintext that is not a weights delta (a masked secure-aggregation input):
 * the same manifest, signature and chunk encryption over the given bytes.
 */
export async function sealPayload(
  input: Omit<SealInput, "delta">,
  payload: Uint8Array,
): Promise<SealedUpdate> {
  const { uploadId, noncePrefix } = createUploadParams(input.random);
  const chunkSize = input.chunkSize ?? DEFAULT_CHUNK_BYTES;
  // A copy: the worker takes the buffer over.
  const bytes = payload.slice();
  return finish(
    input,
    bytes.length,
    uploadId,
    noncePrefix,
    await sealer.run({ bytes, chunkSize, noncePrefix, key: input.key }),
  );
}

/** sealUpdate on the calling thread, which it blocks until done: for tests and small updates. */
export function sealUpdateInThread(input: SealInput): SealedUpdate {
  const { bytes, chunkSize, uploadId, noncePrefix } = prepare(input);
  return finish(
    input,
    bytes.length,
    uploadId,
    noncePrefix,
    sealChunks(bytes, chunkSize, noncePrefix, input.key),
  );
}

function prepare(input: SealInput) {
  return {
    bytes: serializeWeights(input.delta),
    chunkSize: input.chunkSize ?? DEFAULT_CHUNK_BYTES,
    ...createUploadParams(input.random),
  };
}

function finish(
  input: Omit<SealInput, "delta">,
  plaintextBytes: number,
  uploadId: string,
  noncePrefix: string,
  sealed: SealedChunks,
): SealedUpdate {
  const manifest: UpdateManifest = {
    federationId: input.federationId,
    siteId: input.identity.id,
    round: input.round,
    modelVersion: input.modelVersion,
    taskId: input.taskId,
    uploadId,
    noncePrefix,
    contentSha256: sealed.contentSha256,
    plaintextBytes,
    numChunks: sealed.chunks.length,
    numExamples: input.numExamples,
    createdAtMs: (input.now ?? Date.now)(),
  };
  return { manifest, signature: signManifest(manifest, input.identity), chunks: sealed.chunks };
}

const WORKER_ENTRY = new URL("./seal-worker.ts", import.meta.url).href;
// The worker thread loads TypeScript as bin/fl.js does: tsx registered in that thread first
// (loader hooks are per thread, and an --import in a worker's execArgv is not honoured).
const BOOTSTRAP = `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))}).then((tsx) => {
  tsx.register();
  return import(${JSON.stringify(WORKER_ENTRY)});
});`;

/**
 * One worker thread, started on first use and kept for the next update. It holds the process
 * open only while a job is in flight; a crashed worker fails its jobs and the next job starts a
 * fresh one.
 */
class Sealer {
  private worker: Worker | undefined;
  private readonly pending = new Map<
    number,
    { resolve: (sealed: SealedChunks) => void; reject: (error: Error) => void }
  >();
  private lastId = 0;

  run(job: Omit<SealJob, "id">): Promise<SealedChunks> {
    const worker = this.worker ?? this.start();
    const id = ++this.lastId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.ref();
      // The serialised bytes are this module's own: handed over, not copied.
      worker.postMessage({ id, ...job } satisfies SealJob, [job.bytes.buffer as ArrayBuffer]);
    });
  }

  private start(): Worker {
    const worker = new Worker(BOOTSTRAP, { eval: true });
    worker.unref();
    worker.on("message", (reply: SealReply) => {
      const job = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if (this.pending.size === 0) worker.unref();
      if (!job) return;
      if ("error" in reply) job.reject(new FlError(reply.error.code, reply.error.message));
      else job.resolve({ contentSha256: reply.contentSha256, chunks: reply.chunks });
    });
    const fail = (error: Error) => {
      if (this.worker === worker) this.worker = undefined;
      for (const job of this.pending.values()) job.reject(error);
      this.pending.clear();
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`the sealing worker thread exited (code ${code})`)));
    this.worker = worker;
    return worker;
  }
}

const sealer = new Sealer();
