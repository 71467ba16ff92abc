import { Worker } from "node:worker_threads";
import { ErrorCode, FlError } from "../../../errors.js";

/** A frame as the cornerstone codecs hand it back. */
export interface WasmFrame {
  readonly width: number;
  readonly height: number;
  readonly bitsPerSample: number;
  readonly componentCount: number;
  readonly bytes: Uint8Array;
}

type Reply =
  | ({ readonly id: number } & WasmFrame)
  | { readonly id: number; readonly error: string; readonly trapped: boolean };

let worker: Worker | undefined;
let nextId = 0;
/** One frame at a time: a frame that times out then takes no other frame down with it. */
let queue: Promise<unknown> = Promise.resolve();

function currentWorker(): Worker {
  if (!worker) {
    const started = new Worker(new URL("./wasm-decode-worker.mjs", import.meta.url));
    // An idle decoder must not keep the process alive; a pending decode's timer does.
    started.unref();
    started.on("exit", () => {
      if (worker === started) worker = undefined;
    });
    worker = started;
  }
  return worker;
}

function retire(stale: Worker): void {
  if (worker === stale) worker = undefined;
  void stale.terminate();
}

function decodeNow(
  codec: "charls" | "openjpeg",
  frame: Uint8Array,
  file: string,
  timeoutMs: number,
): Promise<WasmFrame> {
  const target = currentWorker();
  const id = nextId++;
  const copy = Uint8Array.from(frame);
  return new Promise<WasmFrame>((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      target.off("message", onMessage);
      target.off("error", onError);
    };
    const onMessage = (reply: Reply): void => {
      if (reply.id !== id) return;
      done();
      if ("error" in reply) {
        if (reply.trapped) retire(target);
        reject(new Error(reply.error));
      } else resolve(reply);
    };
    const onError = (error: Error): void => {
      done();
      retire(target);
      reject(error);
    };
    const timer = setTimeout(() => {
      done();
      // The codec cannot be interrupted, only the thread it runs on.
      retire(target);
      reject(
        new FlError(
          ErrorCode.DataError,
          `${file}: compressed frame did not decode within ${timeoutMs} ms (damaged or hostile data); refusing it`,
        ),
      );
    }, timeoutMs);
    target.on("message", onMessage);
    target.on("error", onError);
    target.postMessage({ id, codec, frame: copy }, [copy.buffer]);
  });
}

/**
 * Decodes a JPEG-LS (CharLS) or JPEG 2000 (OpenJPEG) frame in a worker thread, giving up after
 * `timeoutMs`. A worker whose codec trapped or timed out is replaced, so one hostile file cannot
 * hang the loader or spoil the decoding of the files after it.
 */
export function decodeWasmFrame(
  codec: "charls" | "openjpeg",
  frame: Uint8Array,
  file: string,
  timeoutMs: number,
): Promise<WasmFrame> {
  const result = queue.then(() => decodeNow(codec, frame, file, timeoutMs));
  queue = result.catch(() => undefined);
  return result;
}
