import { getKernel, type KernelConfig, type NamedAttrMap, type TensorInfo } from "@tensorflow/tfjs-core";
import type { WasmBackend } from "./wasm-backend.js";

/**
 * The wasm backend's own kernels, captured before this project replaces any of them, so that
 * our composite kernels can call the fast originals (BatchMatMul, AvgPool, ...) directly, without a
 * trip through the engine (which would record them on the gradient tape and in profiles).
 */
const originals = new Map<string, KernelConfig>();
/** Originals whose setupFunc (which binds the C++ entry point) we have run, per backend. */
const setUp = new WeakMap<object, Set<string>>();

/** Remembers the backend's current kernel of that name; call before replacing it. */
export function captureOriginalKernel(kernelName: string): void {
  if (originals.has(kernelName)) return;
  const config = getKernel(kernelName, "wasm");
  if (config !== undefined) originals.set(kernelName, config);
}

/** Runs the backend's original kernel. The caller owns (and must release) the result. */
export function runOriginalKernel(
  backend: WasmBackend,
  kernelName: string,
  inputs: Record<string, TensorInfo>,
  attrs: NamedAttrMap = {},
): TensorInfo {
  captureOriginalKernel(kernelName);
  const config = originals.get(kernelName);
  if (config === undefined) throw new Error(`the wasm backend has no ${kernelName} kernel`);
  // The engine runs setupFunc only for kernels registered when the backend initialises; one we
  // replaced before that was never set up.
  const done = setUp.get(backend) ?? new Set<string>();
  setUp.set(backend, done);
  if (!done.has(kernelName)) {
    config.setupFunc?.(backend as never);
    done.add(kernelName);
  }
  const result = config.kernelFunc({ inputs, backend: backend as never, attrs });
  if (Array.isArray(result)) throw new Error(`${kernelName} returned several tensors`);
  return result;
}
