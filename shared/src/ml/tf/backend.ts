import * as tf from "@tensorflow/tfjs-core";
// tfjs-core's Node bundle registers no gradients; tfjs-layers' bundle registers all of them.
import "@tensorflow/tfjs-layers";
import { ErrorCode, errorMessage, FlError } from "../../errors.js";
import { registerCpuKernelFixes } from "./cpu-kernels/resize-nearest-neighbor-grad.js";
import { type CudaProbe, probeCuda, scanGpuLibraries } from "./cuda.js";
import { diagnoseGpuLibraries, missingLibrariesIn, missingRequiredLibraries } from "./gpu-diagnosis.js";
import { registerGradientOverrides } from "./gradients/mean-grad.js";
import { prepareThreadedWasm, type WasmThreadsModule, wasmPoolSize } from "./threads/threaded-wasm.js";
import { registerWasmTrainingKernels } from "./wasm-kernels/register.js";

/** The backends this project can train on, fastest first. */
export type BackendName = "tensorflow-gpu" | "tensorflow" | "wasm" | "cpu";
/** `auto` tries the backends in order of speed; a name forces that one (the `--backend` option). */
export type BackendPreference = BackendName | "auto";

export const BACKEND_NAMES: readonly BackendName[] = ["tensorflow-gpu", "tensorflow", "wasm", "cpu"];

/** The npm package that provides each backend. The first two are optional dependencies. */
export const BACKEND_PACKAGES: Readonly<Record<BackendName, string>> = {
  "tensorflow-gpu": "@tensorflow/tfjs-node-gpu",
  tensorflow: "@tensorflow/tfjs-node",
  wasm: "@tensorflow/tfjs-backend-wasm",
  cpu: "@tensorflow/tfjs-backend-cpu",
};

/** The name each package registers with tfjs-core (both native packages register `tensorflow`). */
const TFJS_BACKEND_ID: Readonly<Record<BackendName, string>> = {
  "tensorflow-gpu": "tensorflow",
  tensorflow: "tensorflow",
  wasm: "wasm",
  cpu: "cpu",
};

export interface LoadedBackend {
  readonly name: BackendName;
  readonly tf: typeof import("@tensorflow/tfjs-core");
  /** One line: what was chosen and why (e.g. which packages were missing). */
  readonly detail: string;
}

export interface InitBackendOptions {
  /** Which backend to use; `auto` (default) takes the fastest one that loads. */
  prefer?: BackendPreference;
  /** Receives the one line that says which backend was chosen and why; default `console.error`. */
  log?: (line: string) => void;
  /**
   * Threads of the wasm backend (resolveThreads, `training.threads`); default 1. Above 1 the
   * threaded SIMD build runs XNNPACK's operators on a pool of that many threads.
   */
  threads?: number;
}

/** What the loader needs from the outside world; replaced in tests. */
export interface BackendLoaderDeps {
  /** Dynamic `import()` of a package by name. */
  importModule(specifier: string): Promise<unknown>;
  /** Cheap CUDA check, asked only under `auto`. */
  probeCuda(): CudaProbe;
  /**
   * CUDA/cuDNN sonames on the host, checked before tfjs-node-gpu is imported: without them it
   * does not fail but logs dlopen warnings and trains on the CPU. Omitted: no check.
   */
  scanGpuLibraries?(): readonly string[];
}

export const DEFAULT_BACKEND_LOADER_DEPS: BackendLoaderDeps = {
  importModule: (specifier) => import(specifier),
  probeCuda: () => probeCuda(),
  scanGpuLibraries: () => scanGpuLibraries(),
};

/** Pure selection logic, tested on its own: given what is present, which backend to try in order. */
export function backendCandidates(env: { prefer: BackendPreference; cudaAvailable: boolean }): BackendName[] {
  if (env.prefer !== "auto") return [env.prefer];
  return env.cudaAvailable ? ["tensorflow-gpu", "tensorflow", "wasm", "cpu"] : ["tensorflow", "wasm", "cpu"];
}

/** Validates a `--backend` value; throws InvalidConfig listing the accepted names. */
export function parseBackendPreference(value: string): BackendPreference {
  if (value === "auto" || (BACKEND_NAMES as readonly string[]).includes(value)) {
    return value as BackendPreference;
  }
  throw new FlError(
    ErrorCode.InvalidConfig,
    `unknown backend "${value}": use one of auto, ${BACKEND_NAMES.join(", ")}`,
  );
}

let loaded: Promise<LoadedBackend> | undefined;

/**
 * Idempotent per process: the second call returns the first result (whatever it asks for).
 * Registers this project's wasm training kernels when wasm is chosen. A forced backend that does
 * not load rejects with FlError(Unsupported); a failed call may be retried.
 */
export function initBackend(options: InitBackendOptions = {}): Promise<LoadedBackend> {
  if (loaded === undefined) {
    loaded = loadBackend(options, DEFAULT_BACKEND_LOADER_DEPS);
    loaded.catch(() => {
      loaded = undefined;
    });
  }
  return loaded;
}

/** The loader behind initBackend, without the per-process memo; tests call it with fake deps. */
export async function loadBackend(
  options: InitBackendOptions,
  deps: BackendLoaderDeps,
): Promise<LoadedBackend> {
  const prefer = options.prefer ?? "auto";
  registerGradientOverrides();
  const log = options.log ?? ((line: string) => console.error(line));
  const skipped: string[] = [];
  let cudaAvailable = false;
  if (prefer === "auto") {
    const cuda = deps.probeCuda();
    cudaAvailable = cuda.available;
    if (!cuda.available) skipped.push(`tensorflow-gpu: ${cuda.evidence}`);
  }
  for (const name of backendCandidates({ prefer, cudaAvailable })) {
    const failure = await tryBackend(name, deps, options.threads ?? 1);
    if (failure === undefined) {
      const why = prefer === "auto" ? skipped : ["forced by --backend"];
      const detail = `tf backend: ${name}${describeBackend(name)}${why.length > 0 ? ` (${why.join("; ")})` : ""}`;
      log(detail);
      return { name, tf, detail };
    }
    skipped.push(`${name}: ${failure}`);
  }
  const message =
    prefer === "auto"
      ? `no TensorFlow.js backend could be loaded (${skipped.join("; ")})`
      : `backend "${prefer}" was requested but did not load (${skipped.join("; ")}); install ${BACKEND_PACKAGES[prefer]} or use --backend auto`;
  throw new FlError(ErrorCode.Unsupported, message);
}

/** Loads and activates one backend; returns why it failed, or undefined on success. */
async function tryBackend(
  name: BackendName,
  deps: BackendLoaderDeps,
  threads: number,
): Promise<string | undefined> {
  const specifier = BACKEND_PACKAGES[name];
  const hostLibraries = name === "tensorflow-gpu" ? deps.scanGpuLibraries?.() : undefined;
  if (hostLibraries !== undefined) {
    const missing = missingRequiredLibraries(hostLibraries).map((l) => l.soname);
    if (missing.length > 0) {
      return `${specifier} would run on the CPU: ${diagnoseGpuLibraries({ missing, hostLibraries })}`;
    }
  }
  let backendModule: unknown;
  try {
    backendModule = await deps.importModule(specifier);
  } catch (error: unknown) {
    return importFailure(specifier, error, hostLibraries ?? []);
  }
  const id = TFJS_BACKEND_ID[name];
  if (tf.findBackendFactory(id) === null && tf.findBackend(id) === null) {
    return `${specifier} loaded but registered no "${id}" backend with this copy of @tensorflow/tfjs-core (version mismatch?)`;
  }
  const listenersBefore = processErrorListeners();
  const threaded = name === "wasm" && threads > 1;
  let restoreThreading: (() => void) | undefined;
  try {
    if (threaded) {
      tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", true);
      restoreThreading = prepareThreadedWasm(backendModule as WasmThreadsModule, threads);
    }
    if (!(await tf.setBackend(id))) return `${specifier} failed to initialise${threadsHint(threaded)}`;
    await tf.ready();
  } catch (error: unknown) {
    return `${specifier} failed to initialise: ${firstLine(errorMessage(error))}${threadsHint(threaded)}`;
  } finally {
    restoreThreading?.();
    removeListenersAddedSince(listenersBefore);
  }
  if (name === "wasm") registerWasmTrainingKernels();
  if (name === "cpu") registerCpuKernelFixes();
  return undefined;
}

const PROCESS_ERROR_EVENTS = ["uncaughtException", "unhandledRejection"] as const;
type Listener = (...args: unknown[]) => void;
const processEvents = process as unknown as {
  listeners(event: string): Listener[];
  removeListener(event: string, listener: Listener): void;
};

function processErrorListeners(): Map<string, Set<unknown>> {
  return new Map(
    PROCESS_ERROR_EVENTS.map((event) => [event, new Set<unknown>(processEvents.listeners(event))]),
  );
}

/**
 * The wasm backend's Emscripten runtime installs handlers that rethrow every uncaught error from
 * inside its one-line minified source, so a crash anywhere in the process prints megabytes of
 * JavaScript instead of the error. Node's own handling is what we want.
 */
function removeListenersAddedSince(before: Map<string, Set<unknown>>): void {
  for (const event of PROCESS_ERROR_EVENTS) {
    for (const listener of processEvents.listeners(event)) {
      if (!before.get(event)?.has(listener)) processEvents.removeListener(event, listener);
    }
  }
}

function importFailure(specifier: string, error: unknown, hostLibraries: readonly string[]): string {
  const code = (error as { code?: unknown } | null)?.code;
  const message = errorMessage(error);
  if (
    (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") &&
    message.includes(`'${specifier}'`)
  ) {
    return `${specifier} not installed (optional dependency; its install downloads libtensorflow)`;
  }
  const missing = missingLibrariesIn(message);
  if (missing.length > 0) {
    return `${specifier} failed to load: ${firstLine(message)}: ${diagnoseGpuLibraries({ missing, hostLibraries })}`;
  }
  return `${specifier} failed to load: ${firstLine(message)}`;
}

function describeBackend(name: BackendName): string {
  if (name !== "wasm") return "";
  const simd = tf.env().getBool("WASM_HAS_SIMD_SUPPORT") ? "SIMD" : "no SIMD";
  const pool = tf.env().getBool("WASM_HAS_MULTITHREAD_SUPPORT") ? wasmPoolThreads() : 1;
  return ` [${simd}, ${pool} thread${pool === 1 ? "" : "s"}]`;
}

/** Threads in the threaded build's XNNPACK pool, as its C++ side reports them. */
function wasmPoolThreads(): number {
  return wasmPoolSize(tf.backend());
}

function threadsHint(threaded: boolean): string {
  return threaded ? " (with the threaded build; set training.threads: 1 for the single-threaded one)" : "";
}

function firstLine(text: string): string {
  return text.split("\n", 1)[0] ?? "";
}
