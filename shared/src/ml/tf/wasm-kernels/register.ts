import { getKernel, type KernelConfig, registerKernel, unregisterKernel } from "@tensorflow/tfjs-core";
import { fusedBatchNormConfig } from "./batch-norm.js";
import { batchNormGradSumsConfig } from "./batch-norm-grad-sums.js";
import { castConfig } from "./cast.js";
import { CHANNEL_BINARY_KERNELS } from "./channel-binary.js";
import { conv2dBackpropFilterConfig } from "./conv2d-backprop-filter.js";
import { conv2dBackpropInputConfig } from "./conv2d-backprop-input.js";
import { identityConfig } from "./identity.js";
import { captureOriginalKernel } from "./original-kernels.js";
import { meanConfig, sumConfig } from "./reduce.js";
import { tileConfig } from "./tile.js";

/** This project's wasm kernels: the ones the backend lacks, and faster ones for training. */
export const WASM_TRAINING_KERNELS: readonly KernelConfig[] = [
  conv2dBackpropFilterConfig,
  conv2dBackpropInputConfig,
  tileConfig,
  sumConfig,
  meanConfig,
  identityConfig,
  castConfig,
  fusedBatchNormConfig,
  batchNormGradSumsConfig,
  ...CHANNEL_BINARY_KERNELS,
];

let registered = false;

/**
 * Registers (replacing the backend's own where it has one) this project's wasm training kernels.
 * Idempotent. Kernels are looked up at run time, so this may run before or after setBackend.
 */
export function registerWasmTrainingKernels(): void {
  if (registered) return;
  for (const config of WASM_TRAINING_KERNELS) {
    captureOriginalKernel(config.kernelName);
    if (getKernel(config.kernelName, "wasm") !== undefined) unregisterKernel(config.kernelName, "wasm");
    registerKernel(config);
  }
  registered = true;
}
