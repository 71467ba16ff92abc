import type { CastAttrs, KernelConfig, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import { runOriginalKernel } from "./original-kernels.js";
import { asWasmBackend } from "./wasm-backend.js";

interface RefCountingBackend {
  incRef(dataId: object): void;
}

/**
 * A cast to the tensor's own dtype shares the buffer instead of copying it (ReLU's gradient
 * casts a float32 step function to float32). Real conversions go to the backend's kernel.
 */
export const castWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x } = inputs as { x: TensorInfo };
  const { dtype } = attrs as unknown as CastAttrs;
  if (dtype !== x.dtype) return runOriginalKernel(asWasmBackend(backend), "Cast", { x }, attrs);
  (backend as unknown as RefCountingBackend).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
};

export const castConfig: KernelConfig = { kernelName: "Cast", backendName: "wasm", kernelFunc: castWasm };
