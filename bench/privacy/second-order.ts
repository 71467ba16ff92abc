import {
  type Conv2DBackpropFilterAttrs,
  conv2d,
  conv2dTranspose,
  exp,
  type GradConfig,
  getGradient,
  mul,
  registerGradient,
  type Tensor,
  type Tensor4D,
  unregisterGradient,
} from "@tensorflow/tfjs-core";

/**
 * The gradient of Conv2DBackpropFilter, which tfjs does not define: gradient inversion
 * differentiates a model's weight gradient with respect to its input, and a convolution's weight
 * gradient is this kernel. The kernel is bilinear in (x, dy), dW = Σ x ⊗ dy over positions, so
 * its adjoints are the two other convolution kernels (what TensorFlow's own
 * `_Conv2DBackpropFilterGrad` returns): the upstream ∂/∂dW acts as a filter that is convolved
 * with x for dy, and transposed-convolved with dy for x.
 */
export const conv2dBackpropFilterGradConfig: GradConfig = {
  kernelName: "Conv2DBackpropFilter",
  inputsToSave: ["x", "dy"],
  gradFunc: (ddw, saved, attrs) => {
    const [x, dy] = saved as [Tensor4D, Tensor4D];
    const { strides, pad, dataFormat, dimRoundingMode } = attrs as unknown as Conv2DBackpropFilterAttrs;
    const filter = ddw as Tensor4D;
    if (dataFormat !== "NHWC") throw new Error(`second-order conv gradients need NHWC, got ${dataFormat}`);
    return {
      // conv2dTranspose is tfjs's public name for Conv2DBackpropInput.
      x: () => conv2dTranspose(dy, filter, x.shape, strides, pad, dimRoundingMode),
      dy: () => conv2d(x, filter, strides, pad, "NHWC", 1, dimRoundingMode),
    };
  },
};

/**
 * Exp's gradient from its saved input instead of its saved output. tfjs keeps a saved output as a
 * clone recorded on the tape before the op that produced it, so a second differentiation cannot
 * reach the output's dependence on the input and silently drops it (d²/dx² e^x came out wrong).
 * exp(x) recomputed is bit-identical to the saved output; it costs one more kernel.
 */
export const expFromInputGradConfig: GradConfig = {
  kernelName: "Exp",
  inputsToSave: ["x"],
  gradFunc: (dy, saved) => {
    const [x] = saved as [Tensor];
    return { x: () => mul(dy as Tensor, exp(x)) };
  },
};

let registered = false;

/**
 * Makes the ops of cnn.ts differentiable twice. Gradients are global to tfjs-core: the first is
 * new, the second gives the same values as the one it replaces, so training in the same process
 * is unchanged.
 */
export function registerSecondOrderGradients(): void {
  if (registered) return;
  if (getGradient("Conv2DBackpropFilter") === undefined) registerGradient(conv2dBackpropFilterGradConfig);
  if (getGradient("Exp") !== undefined) unregisterGradient("Exp");
  registerGradient(expFromInputGradConfig);
  registered = true;
}
