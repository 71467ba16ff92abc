import { beforeAll, describe, expect, it } from "vitest";
import {
  binaryCrossEntropyWithLogits,
  infoNce,
  l2Normalize,
  maskedReconstructionLoss,
  softDiceLoss,
  weightedCrossEntropy,
} from "../../../../../client/src/training/losses.js";
import {
  buildInpaintingNetwork,
  buildMocoNetwork,
  buildMultitaskNetwork,
  type UnetMultitaskSpec,
} from "../../../../../shared/src/ml/model/index.js";
import { randomValues, relativeError, setUpBackends, tf } from "../../../../helpers/tf-backends.js";

beforeAll(setUpBackends);

// 16x16 (below the spec's minimum, which is about useful images) keeps the pure-JS CPU
// reference fast; every layer still runs, the bottleneck is 1x1.
const SIZE = 16;
const SPEC: UnetMultitaskSpec = {
  architecture: "unet-multitask",
  encoder: "tiny",
  imageSize: SIZE,
  numClasses: 4,
  seed: 5,
  projectionDim: 8,
  phase: "multitask",
};

/**
 * The gradient of every trainable weight of the whole network under one loss touching every
 * phase's ops (cross-entropy, BCE, Dice, InfoNCE with a queue and a shuffled batch, masked L1),
 * with batch-norm in training mode. Networks are rebuilt per backend with the same seed.
 */
async function gradientsOn(backend: "cpu" | "wasm"): Promise<Map<string, Float32Array>> {
  await tf.setBackend(backend);
  const multitask = buildMultitaskNetwork(SPEC);
  const moco = buildMocoNetwork(SPEC, { layers: multitask.layers });
  const inpainting = buildInpaintingNetwork(SPEC, { layers: multitask.layers });
  const x = tf.tensor4d(randomValues(3, 3 * SIZE * SIZE), [3, SIZE, SIZE, 1]);
  const masks = tf.cast(
    tf.greater(tf.tensor4d(randomValues(4, 3 * SIZE * SIZE), [3, SIZE, SIZE, 1]), 0.5),
    "float32",
  );
  const labels = tf.tensor1d([0, 3, 1], "int32");
  const keys = tf.tensor2d(randomValues(5, 3 * 8), [3, 8]);
  const queue = l2Normalize(tf.tensor2d(randomValues(6, 6 * 8), [6, 8]));
  const variables = [
    ...multitask.model.trainableWeights,
    ...moco.model.trainableWeights.filter((w) => w.originalName.startsWith("proj.")),
    ...inpainting.model.trainableWeights.filter((w) => w.originalName.startsWith("dec.recon")),
  ];
  const { grads } = tf.variableGrads(() => {
    const out = multitask.run(x, { training: true });
    const shuffled = tf.gather(x, tf.tensor1d([2, 0, 1], "int32"));
    const projection = moco.run(shuffled, { training: true }).projection;
    const reconstruction = inpainting.run(x, { training: true }).reconstruction;
    return tf.addN([
      weightedCrossEntropy(out.classLogits, labels, [1, 2, 0.5, 1]),
      binaryCrossEntropyWithLogits(out.maskLogits, masks),
      softDiceLoss(out.maskLogits, masks),
      infoNce(projection, keys, queue, 0.2).loss,
      maskedReconstructionLoss(reconstruction, x, masks, "l1"),
    ]) as tf.Scalar;
  });
  const values = new Map<string, Float32Array>();
  for (const w of variables) {
    const grad = grads[(w.read() as tf.Variable).name];
    if (grad === undefined) throw new Error(`no gradient for ${w.originalName}`);
    values.set(w.originalName, Float32Array.from(grad.dataSync()));
  }
  tf.dispose([x, masks, labels, keys, queue, ...Object.values(grads)]);
  multitask.dispose();
  moco.dispose();
  inpainting.dispose();
  return values;
}

describe("the paper's network on wasm", () => {
  it("gets the CPU backend's gradients for every trainable weight of every phase", async () => {
    const expected = await gradientsOn("cpu");
    const actual = await gradientsOn("wasm");
    expect([...actual.keys()]).toEqual([...expected.keys()]);
    // 52 multi-task, 4 projection, 2 reconstruction weights.
    expect(expected.size).toBe(58);
    for (const [name, grad] of expected) {
      expect(relativeError(actual.get(name) as Float32Array, grad), name).toBeLessThan(1e-4); // measured: 5e-6
    }
  });
});
