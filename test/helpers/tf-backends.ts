import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
import "@tensorflow/tfjs-layers";
import { registerCpuKernelFixes } from "../../shared/src/ml/tf/cpu-kernels/resize-nearest-neighbor-grad.js";
import { registerGradientOverrides } from "../../shared/src/ml/tf/gradients/mean-grad.js";
import { registerWasmTrainingKernels } from "../../shared/src/ml/tf/wasm-kernels/register.js";

export { tf };

/** Sets up both backends once per test file: cpu is the reference, wasm runs our kernels. */
export async function setUpBackends(): Promise<void> {
  registerWasmTrainingKernels();
  registerCpuKernelFixes();
  registerGradientOverrides();
  await tf.setBackend("wasm");
  await tf.setBackend("cpu");
}

/** xorshift32 values in [-1, 1): the same inputs on both backends, every run. */
export function randomValues(seed: number, length: number): Float32Array {
  let state = seed >>> 0 || 1;
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    out[i] = state / 2 ** 31 - 1;
  }
  return out;
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** max |actual - expected| / max |expected|: the error relative to the tensor's scale. */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) return Number.POSITIVE_INFINITY;
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    worst = Math.max(worst, Math.abs((actual[i] as number) - (expected[i] as number)));
    scale = Math.max(scale, Math.abs(expected[i] as number));
  }
  if (Number.isNaN(worst)) return Number.POSITIVE_INFINITY;
  return scale === 0 ? worst : worst / scale;
}

/** Runs `compute` on a backend and returns its tensors' values (disposing them). */
export async function valuesOn(
  backend: "cpu" | "wasm",
  compute: () => tf.Tensor | tf.Tensor[],
): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const result = tf.tidy(compute);
  const tensors = Array.isArray(result) ? result : [result];
  const values = tensors.map((t) => Float32Array.from(t.dataSync()));
  tf.dispose(tensors);
  return values;
}

/** The wasm backend's count of live buffers, which sees leaks inside kernels that tf.memory() cannot. */
export function wasmBufferCount(): number {
  return (tf.findBackend("wasm") as unknown as { numDataIds(): number }).numDataIds();
}
