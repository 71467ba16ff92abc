import * as tfl from "@tensorflow/tfjs-layers";
import type { SmallCnnSpec } from "../../fl/model-spec.js";

/**
 * A small residual-free CNN classifier: per stage [conv3x3 → BN → ReLU → conv3x3/2 → BN → ReLU],
 * global average pooling, a linear layer producing class logits. It is the issue-3 reference
 * model's shape, so the WASM training kernels are tuned for exactly these layers.
 * Layer names are explicit and stable: they name the tensors in the weights manifest.
 */
export function buildSmallCnn(spec: SmallCnnSpec): tfl.LayersModel {
  const input = tfl.input({ shape: [spec.imageSize, spec.imageSize, 1], name: "image" });
  let x: tfl.SymbolicTensor = input;
  let seed = spec.seed * 1000;
  spec.widths.forEach((filters, i) => {
    const stage = `stage${i + 1}`;
    x = convBnRelu(x, { name: `${stage}.conv1`, filters, strides: 1, seed: seed++ });
    x = convBnRelu(x, { name: `${stage}.conv2`, filters, strides: 2, seed: seed++ });
  });
  x = tfl.layers.globalAveragePooling2d({ name: "pool" }).apply(x) as tfl.SymbolicTensor;
  const logits = tfl.layers
    .dense({
      units: spec.numClasses,
      name: "head.logits",
      kernelInitializer: tfl.initializers.glorotUniform({ seed: seed++ }),
    })
    .apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: logits, name: "small_cnn" });
}

function convBnRelu(
  x: tfl.SymbolicTensor,
  options: { name: string; filters: number; strides: number; seed: number },
): tfl.SymbolicTensor {
  const conv = tfl.layers.conv2d({
    name: options.name,
    filters: options.filters,
    kernelSize: 3,
    strides: options.strides,
    padding: "same",
    useBias: false,
    kernelInitializer: tfl.initializers.heNormal({ seed: options.seed }),
  });
  const bn = tfl.layers.batchNormalization({ name: `${options.name}.bn`, momentum: 0.9 });
  const relu = tfl.layers.reLU({ name: `${options.name}.relu` });
  return relu.apply(bn.apply(conv.apply(x))) as tfl.SymbolicTensor;
}
