import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import type { OpeningJob, OpeningReply } from "./opening-worker.js";

/** Decrypting an upload's chunks on a worker thread, as they arrive; see OpeningPool. */
export interface Opening {
  /** Hands the chunk over to the worker (its buffer is transferred: the caller must not reuse it). */
  add(index: number, ciphertext: Uint8Array): void;
  /** The first chunk that failed to open, once the worker has said so. */
  failure(): FlError | undefined;
  /** The plaintext and its sha256 once every chunk added is open; rejects with the first failure. */
  finish(): Promise<{ readonly bytes: Uint8Array; readonly sha256: string }>;
  /** Frees the worker's buffer of an upload that will not finish. */
  drop(): void;
}

export interface OpeningStart {
  readonly key: Uint8Array;
  readonly noncePrefix: string;
  readonly plaintextBytes: number;
  /** Told of the first chunk that fails to open, as soon as the worker reports it. */
  readonly onFailure: (error: FlError) => void;
}

/** Two threads open two uploads at once, and on a 2-core host leave a core to the event loop. */
export const DEFAULT_OPENING_THREADS = Math.min(2, availableParallelism());

const WORKER_ENTRY = new URL("./opening-worker.ts", import.meta.url).href;
// The worker thread loads TypeScript as bin/fl.js does: tsx registered in that thread first
// (loader hooks are per thread, and an --import in a worker's execArgv is not honoured).
const BOOTSTRAP = `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))}).then((tsx) => {
  tsx.register();
  return import(${JSON.stringify(WORKER_ENTRY)});
});`;

interface Pending {
  /** The plaintext buffer the thread holds for it. */
  readonly bytes: number;
  failure: FlError | undefined;
  readonly onFailure: (error: FlError) => void;
  settle?: {
    resolve: (opened: { bytes: Uint8Array; sha256: string }) => void;
    reject: (error: Error) => void;
  };
}

/** One worker thread and the uploads it is opening. */
class OpeningThread {
  readonly uploads = new Map<number, Pending>();
  private readonly worker: Worker;

  constructor(private readonly onExit: (thread: OpeningThread) => void) {
    this.worker = new Worker(BOOTSTRAP, { eval: true });
    this.worker.unref();
    this.worker.on("message", (reply: OpeningReply) => this.hear(reply));
    this.worker.on("error", (error) => this.crash(error));
    this.worker.on("exit", (code) =>
      this.crash(new Error(`the opening worker thread exited (code ${code})`)),
    );
  }

  post(job: OpeningJob, transfer: ArrayBuffer[] = []): void {
    this.worker.postMessage(job, transfer);
  }

  track(id: number, pending: Pending): void {
    this.uploads.set(id, pending);
    // The process stays up for an upload in flight, and only for one.
    this.worker.ref();
  }

  forget(id: number): void {
    this.uploads.delete(id);
    if (this.uploads.size === 0) this.worker.unref();
  }

  private hear(reply: OpeningReply): void {
    const pending = this.uploads.get(reply.id);
    if (!pending) return;
    if (reply.kind === "opened") {
      this.forget(reply.id);
      pending.settle?.resolve({ bytes: reply.bytes, sha256: reply.sha256 });
      return;
    }
    const failure = new FlError(reply.error.code, reply.error.message);
    pending.failure ??= failure;
    if (pending.settle) {
      this.forget(reply.id);
      pending.settle.reject(failure);
    } else pending.onFailure(failure);
  }

  private crash(error: Error): void {
    this.onExit(this);
    const failure = new FlError(ErrorCode.Internal, `opening uploads failed: ${error.message}`, {
      cause: error,
    });
    for (const [id, pending] of [...this.uploads]) {
      this.forget(id);
      pending.failure ??= failure;
      if (pending.settle) pending.settle.reject(failure);
      else pending.onFailure(failure);
    }
  }
}

/**
 * A few worker threads that decrypt uploads, each upload on one thread (its chunks in order, its
 * running hash there), the next upload on the least busy thread. Threads start on first use; a
 * crashed one fails its uploads and is replaced by the next upload.
 */
export class OpeningPool {
  private readonly threads: OpeningThread[] = [];
  private lastId = 0;

  constructor(private readonly size: number = DEFAULT_OPENING_THREADS) {
    if (!Number.isSafeInteger(size) || size < 1)
      throw new FlError(ErrorCode.InvalidArgument, `opening threads must be a positive integer, got ${size}`);
  }

  open(start: OpeningStart): Opening {
    const thread = this.pick();
    const id = ++this.lastId;
    const pending: Pending = { bytes: start.plaintextBytes, failure: undefined, onFailure: start.onFailure };
    thread.track(id, pending);
    // The key is the intake's: the worker gets its own copy.
    thread.post({
      kind: "begin",
      id,
      key: start.key.slice(),
      noncePrefix: start.noncePrefix,
      plaintextBytes: start.plaintextBytes,
    });
    let closed = false;
    return {
      add: (index, ciphertext) => {
        const owned =
          ciphertext.byteOffset === 0 && ciphertext.byteLength === ciphertext.buffer.byteLength
            ? ciphertext
            : ciphertext.slice();
        thread.post({ kind: "chunk", id, index, ciphertext: owned }, [owned.buffer as ArrayBuffer]);
      },
      failure: () => pending.failure,
      finish: () => {
        closed = true;
        if (pending.failure) {
          thread.forget(id);
          thread.post({ kind: "drop", id });
          return Promise.reject(pending.failure);
        }
        return new Promise((resolve, reject) => {
          pending.settle = { resolve, reject };
          thread.post({ kind: "finish", id });
        });
      },
      drop: () => {
        if (closed) return;
        closed = true;
        thread.forget(id);
        thread.post({ kind: "drop", id });
      },
    };
  }

  /** Bytes of plaintext buffers the threads hold for uploads not yet finished or dropped. */
  reservedBytes(): number {
    let total = 0;
    for (const thread of this.threads) for (const pending of thread.uploads.values()) total += pending.bytes;
    return total;
  }

  private pick(): OpeningThread {
    if (this.threads.length < this.size) {
      const thread = new OpeningThread((gone) => {
        const at = this.threads.indexOf(gone);
        if (at >= 0) this.threads.splice(at, 1);
      });
      this.threads.push(thread);
      return thread;
    }
    return this.threads.reduce((least, thread) =>
      thread.uploads.size < least.uploads.size ? thread : least,
    );
  }
}

/** The coordinator process's pool, shared by its intakes. */
export const openingPool = new OpeningPool();
