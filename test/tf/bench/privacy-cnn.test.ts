import type * as tfc from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { cnnLogits, cnnParamsOf, crossEntropy, weightGradients } from "../../../bench/privacy/cnn.js";
import { registerSecondOrderGradients } from "../../../bench/privacy/second-order.js";
import type { SmallCnnSpec } from "../../../shared/src/fl/model-spec.js";
import { buildSmallCnn } from "../../../shared/src/ml/model/small-cnn.js";
import { initBackend, type LoadedBackend } from "../../../shared/src/ml/tf/backend.js";

let tf: LoadedBackend["tf"];
const spec: SmallCnnSpec = {
  architecture: "small-cnn",
  imageSize: 16,
  widths: [4, 6],
  numClasses: 4,
  seed: 3,
};

beforeAll(async () => {
  ({ tf } = await initBackend({ prefer: "cpu", log: () => {} }));
  registerSecondOrderGradients();
});

describe("the attack's functional small CNN", () => {
  it("computes what the layers model computes in training mode", () => {
    const model = buildSmallCnn(spec);
    const params = cnnParamsOf(tf, model, spec);
    const x = tf.randomUniform([2, 16, 16, 1], 0, 1, "float32", 7) as tfc.Tensor4D;
    const ours = cnnLogits(tf, spec, params.tensors, x).dataSync();
    const theirs = (model.apply(x, { training: true }) as tfc.Tensor).dataSync();
    expect(ours.length).toBe(8);
    ours.forEach((v, i) => {
      expect(v).toBeCloseTo(theirs[i] as number, 4);
    });
    model.dispose();
  });

  it("differentiates its weight gradient again, matching central differences", () => {
    // The attack's objective depends on x only through ∇θL(x): its gradient in x needs the
    // second-order kernels second-order.ts registers (Conv2DBackpropFilter, Exp).
    const model = buildSmallCnn(spec);
    const params = cnnParamsOf(tf, model, spec);
    model.dispose();
    const oneHot = tf.oneHot(tf.tensor1d([2], "int32"), 4) as tfc.Tensor2D;
    const probes = params.tensors.map((t, k) => tf.randomNormal(t.shape, 0, 1, "float32", 11 + k));
    const objective = (x: tfc.Tensor) =>
      tf.tidy(() =>
        tf.addN(
          weightGradients(tf, params, x as tfc.Tensor4D, oneHot).map((g, k) =>
            tf.sum(tf.mul(g, probes[k] as tfc.Tensor)),
          ),
        ),
      ) as tfc.Scalar;
    const x0 = tf.randomUniform([1, 16, 16, 1], 0.2, 0.8, "float32", 5);
    const analytic = tf.grad(objective)(x0).dataSync();
    const eps = 1e-3;
    let agree = 0;
    const pixels = [0, 17, 100, 135, 200, 255];
    for (const p of pixels) {
      const step = new Float32Array(256);
      step[p] = eps;
      const d = tf.tensor4d(step, [1, 16, 16, 1]);
      const numeric =
        ((objective(tf.add(x0, d)).dataSync()[0] as number) -
          (objective(tf.sub(x0, d)).dataSync()[0] as number)) /
        (2 * eps);
      const a = analytic[p] as number;
      if (Math.abs(a - numeric) <= 0.05 * Math.max(Math.abs(a), Math.abs(numeric)) + 1e-3) agree++;
    }
    // A ReLU kink inside ±ε can spoil one difference; a missing second-order path spoils all.
    expect(agree).toBeGreaterThanOrEqual(pixels.length - 1);
  });

  it("writes cross-entropy so that it matches tfjs's softmax cross-entropy", () => {
    const logits = tf.tensor2d([
      [0.1, -0.4, 1.2, 0.3],
      [2, 0, -1, 0.5],
    ]);
    const labels = tf.oneHot(tf.tensor1d([2, 0], "int32"), 4) as tfc.Tensor2D;
    const ours = crossEntropy(tf, logits as tfc.Tensor2D, labels).dataSync()[0] as number;
    const theirs = tf.losses.softmaxCrossEntropy(labels, logits).dataSync()[0] as number;
    expect(ours).toBeCloseTo(theirs, 6);
  });
});
