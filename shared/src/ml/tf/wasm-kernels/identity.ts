import type { KernelConfig, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";

interface RefCountingBackend {
  incRef(dataId: object): void;
}

/**
 * Identity that shares the input's buffer (one more reference) instead of copying it, as the
 * CPU backend does and as the wasm backend's own Reshape does. Tensors are immutable, and every
 * kernel writes a fresh output, so nothing can observe the sharing. A training step of the
 * reference model runs ~250 Identity kernels (clones in custom gradients and in layers).
 */
export const identityWasm: KernelFunc = ({ inputs, backend }) => {
  const { x } = inputs as { x: TensorInfo };
  (backend as unknown as RefCountingBackend).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
};

export const identityConfig: KernelConfig = {
  kernelName: "Identity",
  backendName: "wasm",
  kernelFunc: identityWasm,
};
