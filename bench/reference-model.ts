import * as tfl from "@tensorflow/tfjs-layers";

/** Filters of the four stages of the reference model. */
export const REFERENCE_STAGE_FILTERS: readonly number[] = [16, 32, 64, 128];
export const REFERENCE_CLASSES = 4;
export const REFERENCE_BATCH = 16;

/**
 * The reference model: four stages of [conv 3x3, BN, ReLU, conv 3x3 stride 2, BN, ReLU]
 * without conv bias, global average pooling, dense softmax. 295,188 parameters at any input size.
 */
export function buildReferenceModel(inputSize: number): tfl.LayersModel {
  const input = tfl.input({ shape: [inputSize, inputSize, 1] });
  let x: tfl.SymbolicTensor = input;
  for (const filters of REFERENCE_STAGE_FILTERS) {
    for (const strides of [1, 2]) {
      x = tfl.layers
        .conv2d({ filters, kernelSize: 3, strides, padding: "same", useBias: false })
        .apply(x) as tfl.SymbolicTensor;
      x = tfl.layers.batchNormalization().apply(x) as tfl.SymbolicTensor;
      x = tfl.layers.reLU().apply(x) as tfl.SymbolicTensor;
    }
  }
  x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  const output = tfl.layers
    .dense({ units: REFERENCE_CLASSES, activation: "softmax" })
    .apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: output });
}

/**
 * Multiply-adds x 2 of one forward pass for one image, counted layer by layer (convolutions and
 * the dense layer; BN, ReLU and pooling are a rounding error next to them).
 */
export function referenceForwardFlops(inputSize: number): number {
  let flops = 0;
  let size = inputSize;
  let channels = 1;
  for (const filters of REFERENCE_STAGE_FILTERS) {
    flops += 2 * size * size * 9 * channels * filters;
    channels = filters;
    size = Math.ceil(size / 2);
    flops += 2 * size * size * 9 * channels * filters;
  }
  return flops + 2 * channels * REFERENCE_CLASSES;
}

/**
 * FLOPs of one training step per image: forward, input gradient and filter gradient of each
 * layer (each as large as the forward), except the first convolution's input gradient, which
 * nothing needs.
 */
export function referenceTrainingFlops(inputSize: number): number {
  const firstConv = 2 * inputSize * inputSize * 9 * 1 * (REFERENCE_STAGE_FILTERS[0] ?? 0);
  return 3 * referenceForwardFlops(inputSize) - firstConv;
}
