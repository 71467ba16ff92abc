import { type KernelConfig, type KernelFunc, type TensorInfo, util } from "@tensorflow/tfjs-core";
import { isChannelVector, originalBinary, scaleShiftChannels } from "./per-channel.js";
import { asWasmBackend, heapF32, release } from "./wasm-backend.js";

/** The binary ops that batch-norm's forward pass and gradient broadcast over channels. */
export type ChannelOp = "Multiply" | "Add" | "Sub" | "SquaredDifference";

/** Below this many elements, creating the XNNPACK operator costs more than it saves. */
const MIN_ELEMENTS = 16_384;
/** From this many channels on, the backend's own broadcasting loop is as fast. */
const MAX_CHANNELS = 64;

/**
 * Binary ops where one float32 operand is a per-channel vector run as one 1x1 depthwise
 * convolution (see scaleShiftChannels), each exact as the op itself: x*v, x*1 + v, x*1 - v,
 * x*(-1) + v, and (x - v)^2 as x*1 - v then Square. All other cases go to the backend's kernel.
 */
function channelBinaryKernel(op: ChannelOp): KernelFunc {
  return ({ inputs, backend: anyBackend }) => {
    const backend = asWasmBackend(anyBackend);
    const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
    const vectorFirst = isChannelVector(a.shape, b.shape);
    const channels = Math.max(a.shape[a.shape.length - 1] ?? 0, b.shape[b.shape.length - 1] ?? 0);
    const large =
      Math.max(util.sizeFromShape(a.shape), util.sizeFromShape(b.shape)) >= MIN_ELEMENTS &&
      channels < MAX_CHANNELS;
    if (
      !large ||
      a.dtype !== "float32" ||
      b.dtype !== "float32" ||
      !(vectorFirst || isChannelVector(b.shape, a.shape))
    ) {
      return originalBinary(backend, op, a, b);
    }
    const [vectorInfo, full] = vectorFirst ? [a, b] : [b, a];
    const vector = Float32Array.from(heapF32(backend, vectorInfo));
    const ones = new Float32Array(vector.length).fill(1);
    switch (op) {
      case "Multiply":
        return scaleShiftChannels(backend, full, vector);
      case "Add":
        return scaleShiftChannels(backend, full, ones, vector);
      case "Sub":
        return vectorFirst
          ? scaleShiftChannels(backend, full, ones.fill(-1), vector)
          : scaleShiftChannels(
              backend,
              full,
              ones,
              vector.map((v) => -v),
            );
      case "SquaredDifference": {
        const difference = scaleShiftChannels(
          backend,
          full,
          ones,
          vector.map((v) => -v),
        );
        const squared = originalBinary(backend, "Multiply", difference, difference);
        release(backend, difference);
        return squared;
      }
    }
  };
}

export const CHANNEL_BINARY_KERNELS: readonly KernelConfig[] = (
  ["Multiply", "Add", "Sub", "SquaredDifference"] as const
).map((op) => ({ kernelName: op, backendName: "wasm", kernelFunc: channelBinaryKernel(op) }));
