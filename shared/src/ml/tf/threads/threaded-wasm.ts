import { createRequire } from "node:module";
import { MAX_WASM_THREADS } from "./thread-count.js";

/**
 * Node glue for tfjs-backend-wasm's threaded SIMD build, whose loader was written for browsers:
 *
 * - it turns the pthread worker script and its own factory into Blobs and hands Emscripten
 *   `blob:` URLs, which Node's `worker_threads.Worker` cannot start and whose worker cannot
 *   `importScripts`. Blob texts are recorded as they are made, the worker starts from its source
 *   (`eval: true`), and the factory goes to each worker as text that its `importScripts` evaluates;
 * - the factory's text refers to names of the bundle that wraps it (its `require`s, `__dirname`);
 *   the worker gets them defined first;
 * - the C++ side caps its pool at half of `os.cpus().length` (it assumes two hardware threads per
 *   core), so a 2-CPU machine gets one thread; during initialisation `os.cpus()` answers twice the
 *   threads asked for. (The build caps the pool at 8 threads as well: its pre-started workers.)
 *
 * Each patch lasts from `prepare` to the returned `restore`, which the caller runs once the
 * backend is ready (Emscripten keeps the Worker class as its global `Worker`).
 */

const nodeRequire = createRequire(import.meta.url);
const workerThreads = nodeRequire("node:worker_threads") as typeof import("node:worker_threads");
const os = nodeRequire("node:os") as typeof import("node:os");

/** What this module needs of the tfjs-backend-wasm package. */
export interface WasmThreadsModule {
  setThreadsCount(threads: number): void;
}

const MARKER = "tfjs-wasm-threaded:";
/** Pre-started workers the pools made so far hold (see resizeWasmPool). */
let workersTaken = 0;
const FACTORY_PREFIX = "var WasmBackendModuleThreadedSimd";
/** The bundle-level names the factory's text uses, defined again inside each worker. */
const FACTORY_PRELUDE = [
  'var require$$0 = require("fs"), require$$1 = require("path"), require$$3 = require("perf_hooks"),',
  'require$$4 = require("os"), commonjsGlobal = globalThis,',
  '_scriptDir = typeof __filename === "undefined" ? undefined : __filename;',
].join(" ");
/** After the worker's own shim: `importScripts` receives the factory's text, not a file name. */
const WORKER_EPILOGUE = ";\nglobalThis.importScripts = function (source) { (0, eval)(source); };\n";

/**
 * Patches what the threaded build's loader needs (see above) and sets the thread count; call
 * after importing the wasm package and before `tf.setBackend("wasm")`. Returns the restore.
 */
export function prepareThreadedWasm(wasmModule: WasmThreadsModule, threads: number): () => void {
  if (!Number.isInteger(threads) || threads < 2 || threads > MAX_WASM_THREADS) {
    throw new RangeError(`threaded wasm takes 2 to ${MAX_WASM_THREADS} threads, got ${threads}`);
  }
  wasmModule.setThreadsCount(threads);
  workersTaken = threads - 1;
  const texts = new WeakMap<Blob, string>();
  const sources = new Map<string, string>();
  const OriginalBlob = globalThis.Blob;
  const originalCreateObjectURL = URL.createObjectURL;
  const OriginalWorker = workerThreads.Worker;
  const originalCpus = os.cpus;

  class RecordingBlob extends OriginalBlob {
    constructor(...args: ConstructorParameters<typeof OriginalBlob>) {
      super(...args);
      const parts = args[0];
      if (parts?.every((part) => typeof part === "string")) texts.set(this, parts.join(""));
    }
  }
  const factorySource = (blob: unknown): string | undefined => {
    const text = blob instanceof OriginalBlob ? texts.get(blob) : undefined;
    return text?.startsWith(FACTORY_PREFIX) ? `${FACTORY_PRELUDE}\n${text}` : undefined;
  };
  class SourceWorker extends OriginalWorker {
    constructor(script: string | URL, options?: import("node:worker_threads").WorkerOptions) {
      const source = typeof script === "string" ? sources.get(script) : undefined;
      if (source === undefined) super(script, options);
      else super(`${source}${WORKER_EPILOGUE}`, { ...options, eval: true });
    }
    override postMessage(message: unknown, transfer?: readonly import("node:worker_threads").Transferable[]) {
      const load = message as { cmd?: unknown; urlOrBlob?: unknown } | null;
      const factory = load?.cmd === "load" ? factorySource(load.urlOrBlob) : undefined;
      super.postMessage(factory === undefined ? message : { ...load, urlOrBlob: factory }, transfer);
    }
  }

  globalThis.Blob = RecordingBlob;
  URL.createObjectURL = (blob: Blob): string => {
    const text = texts.get(blob);
    if (text === undefined) return originalCreateObjectURL(blob);
    const url = `${MARKER}${sources.size}`;
    sources.set(url, text);
    return url;
  };
  workerThreads.Worker = SourceWorker;
  os.cpus = () => {
    const cpus = originalCpus();
    return Array.from({ length: 2 * threads }, (_, i) => cpus[i % cpus.length] as import("node:os").CpuInfo);
  };
  return () => {
    globalThis.Blob = OriginalBlob;
    URL.createObjectURL = originalCreateObjectURL;
    workerThreads.Worker = OriginalWorker;
    os.cpus = originalCpus;
  };
}

/**
 * Replaces the threaded build's XNNPACK pool with one of `threads` threads (at most the count it
 * was initialised with: the C++ side fixes that cap at start-up), so that tests and benchmarks can
 * compare pool sizes in one process on the same binary. The old pool's threads are not given
 * back: each pool takes threads - 1 of the build's pre-started workers, and once they are gone
 * a new pool would wait forever for a worker that can load only when the main thread is free.
 * Returns the pool's size as the C++ side reports it.
 */
export function resizeWasmPool(backend: unknown, threads: number): number {
  if (workersTaken + threads - 1 > MAX_WASM_THREADS) {
    throw new Error(
      `a pool of ${threads} would need more than the threaded build's ${MAX_WASM_THREADS} pre-started workers (${workersTaken} taken): start a new process`,
    );
  }
  workersTaken += threads - 1;
  poolControl(backend).initWithThreadsCount(threads);
  return wasmPoolSize(backend);
}

/** Threads in the wasm backend's XNNPACK pool (1 for the single-threaded builds). */
export function wasmPoolSize(backend: unknown): number {
  return poolControl(backend).getThreadsCount();
}

function poolControl(backend: unknown): WasmPoolControl {
  const tfjs = (backend as { wasm?: { tfjs?: WasmPoolControl } }).wasm?.tfjs;
  if (tfjs === undefined) throw new Error("expected the active wasm backend (tf.backend())");
  return tfjs;
}

/** The threaded build's pool controls that tfjs-backend-wasm wraps but does not export. */
interface WasmPoolControl {
  initWithThreadsCount(threads: number): void;
  getThreadsCount(): number;
}
