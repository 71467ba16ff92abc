import {
  backend_util,
  type Conv2DBackpropInputAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from "@tensorflow/tfjs-core";
import { COL2IM_MAX_TAPS, col2imInputGrad } from "./input-grad-col2im.js";
import { axisPhases, phaseDecomposedInputGrad } from "./input-grad-phases.js";
import { zeroInsertedInputGrad } from "./input-grad-zero-insertion.js";
import { asWasmBackend } from "./wasm-backend.js";

export { axisPhases, mergeColumnPhases } from "./input-grad-phases.js";

/**
 * dx on XNNPACK (the backend's own Conv2DBackpropInput is a plain C++ loop), by the cheapest of:
 * - few input channels (a grayscale first layer): dy · W^T then col2im (input-grad-col2im.ts);
 * - stride 1, or stride s split into phases: forward convolutions of dy with sub-filters of the
 *   flipped filter, the forward pass's multiply-adds, not the s^2 times as many of zero
 *   insertion (input-grad-phases.ts);
 * - explicit padding wider than the filter's reach: zero insertion (input-grad-zero-insertion.ts).
 */
export const conv2dBackpropInputWasm: KernelFunc = ({ inputs, backend: anyBackend, attrs }) => {
  const backend = asWasmBackend(anyBackend);
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } =
    attrs as unknown as Conv2DBackpropInputAttrs;
  const info = backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    backend_util.convertConv2DDataFormat(dataFormat),
  );
  if (info.dataFormat !== "channelsLast") {
    throw new Error("wasm Conv2DBackpropInput supports NHWC only");
  }
  const { filterHeight, filterWidth, strideHeight, strideWidth, inHeight, inWidth, outHeight, outWidth } =
    info;
  if (filterHeight * filterWidth * info.inChannels <= COL2IM_MAX_TAPS) {
    return col2imInputGrad(backend, dy, filter, info);
  }
  const phasesY = axisPhases(inHeight, outHeight, filterHeight, strideHeight, info.padInfo.top);
  const phasesX = axisPhases(inWidth, outWidth, filterWidth, strideWidth, info.padInfo.left);
  if (phasesY !== undefined && phasesX !== undefined) {
    return phaseDecomposedInputGrad(backend, dy, filter, info, phasesY, phasesX);
  }
  return zeroInsertedInputGrad(backend, dy, filter, info);
};

export const conv2dBackpropInputConfig: KernelConfig = {
  kernelName: "Conv2DBackpropInput",
  backendName: "wasm",
  kernelFunc: conv2dBackpropInputWasm,
};
