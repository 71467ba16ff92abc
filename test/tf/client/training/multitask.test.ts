import { beforeAll, describe, expect, it } from "vitest";
import {
  evaluateMultitask,
  type MultitaskRoundOptions,
  trainMultitaskRound,
} from "../../../../client/src/training/multitask.js";
import { buildMultitaskNetwork } from "../../../../shared/src/ml/model/index.js";
import type { LoadedBackend } from "../../../../shared/src/ml/tf/backend.js";
import { toyImageSet } from "../../../helpers/synthetic-images.js";
import { expectClose, tinySpec, wasmBackend, weightValues } from "../../../helpers/training.js";

let tf: LoadedBackend["tf"];
beforeAll(async () => {
  tf = await wasmBackend();
});

const OPTIONS: MultitaskRoundOptions = {
  batchSize: 8,
  epochs: 1,
  seed: 1,
  numClasses: 4,
  optimizer: { kind: "adam", learningRate: 3e-3 },
};

function changed(before: Map<string, number[]>, after: Map<string, number[]>): string[] {
  return [...before.keys()].filter(
    (name) => JSON.stringify(before.get(name)) !== JSON.stringify(after.get(name)),
  );
}

describe("a multi-task round", () => {
  it("lowers both losses on a repeated batch and leaks no tensor", async () => {
    const network = buildMultitaskNetwork(tinySpec());
    const images = toyImageSet({ count: 8, size: 32, seed: 1 });
    const steps: Record<string, number>[] = [];
    const before = tf.memory().numTensors;
    const result = await trainMultitaskRound(tf, network, images, {
      ...OPTIONS,
      epochs: 10,
      augment: false,
      onStep: (_, values) => steps.push({ ...values }),
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(result.metrics.steps).toBe(10);
    const first = steps[0] as Record<string, number>;
    const last = steps[steps.length - 1] as Record<string, number>;
    expect(last.classificationLoss).toBeLessThan(0.5 * (first.classificationLoss as number));
    expect((last.bceLoss as number) + (last.diceLoss as number)).toBeLessThan(
      (first.bceLoss as number) + (first.diceLoss as number),
    );
    // loss = classification + λ (BCE + Dice), by default λ = 0.4 / 0.6 = 2/3 (0.6 L_cls + 0.4 L_seg, scaled)
    expect(first.loss).toBeCloseTo(
      (first.classificationLoss as number) +
        (2 / 3) * ((first.bceLoss as number) + (first.diceLoss as number)),
      4,
    );
    network.dispose();
  });

  it("trains on labelled images only", async () => {
    const network = buildMultitaskNetwork(tinySpec());
    const images = toyImageSet({ count: 12, size: 32, seed: 1, unlabelled: 4 });
    const result = await trainMultitaskRound(tf, network, images, OPTIONS);
    expect(result.numExamples).toBe(8);
    expect(result.metrics.steps).toBe(1);
    const none = toyImageSet({ count: 4, size: 32, seed: 1, unlabelled: 4 });
    await expect(trainMultitaskRound(tf, network, none, OPTIONS)).rejects.toThrow(
      /no labelled training images/,
    );
    network.dispose();
  });

  it("as single-task classification (λ = 0) leaves the decoder untouched", async () => {
    const network = buildMultitaskNetwork(tinySpec());
    const images = toyImageSet({ count: 8, size: 32, seed: 1 });
    const before = weightValues(network.model, () => true);
    const result = await trainMultitaskRound(tf, network, images, { ...OPTIONS, segmentationWeight: 0 });
    const moved = changed(
      before,
      weightValues(network.model, () => true),
    );
    expect(moved.some((n) => n.startsWith("dec."))).toBe(false);
    expect(moved).toContain("enc.stem/kernel");
    expect(moved).toContain("cls.logits/kernel");
    expect(result.metrics.bceLoss).toBeUndefined();
    network.dispose();
  });

  it("as a linear probe keeps the encoder's weights and batch-norm statistics fixed", async () => {
    const network = buildMultitaskNetwork(tinySpec());
    const images = toyImageSet({ count: 8, size: 32, seed: 1 });
    const before = weightValues(network.model, () => true);
    await trainMultitaskRound(tf, network, images, { ...OPTIONS, mode: "linear-probe" });
    const moved = changed(
      before,
      weightValues(network.model, () => true),
    );
    expect(moved.some((n) => n.startsWith("enc."))).toBe(false);
    expect(moved).toContain("cls.logits/kernel");
    expect(moved).toContain("dec.mask/kernel");
    expect(moved).toContain("dec.up1.conv1.bn/moving_mean");
    network.dispose();
  });

  it("trains with focal loss and explicit class weights, and refuses weights of the wrong length", async () => {
    const network = buildMultitaskNetwork(tinySpec());
    const images = toyImageSet({ count: 8, size: 32, seed: 1 });
    const result = await trainMultitaskRound(tf, network, images, {
      ...OPTIONS,
      classificationLoss: "focal",
      classWeighting: [1, 2, 1, 1],
      optimizer: { kind: "sgd", learningRate: (step) => 0.01 / (step + 1) },
    });
    expect(Number.isFinite(result.metrics.loss)).toBe(true);
    expect(result.metrics.learningRate).toBeCloseTo(0.01, 12);
    await expect(
      trainMultitaskRound(tf, network, images, { ...OPTIONS, classWeighting: [1, 2] }),
    ).rejects.toThrow(/2 weights for 4 classes/);
    network.dispose();
  });
});

describe("multi-task evaluation", () => {
  it("returns probabilities, a confusion matrix and Dice/IoU sums that match the model's predictions", async () => {
    const network = buildMultitaskNetwork(tinySpec());
    const images = toyImageSet({ count: 10, size: 32, seed: 2, unlabelled: 3 });
    const before = tf.memory().numTensors;
    const result = await evaluateMultitask(tf, network, images, { numClasses: 4, batchSize: 4 });
    expect(tf.memory().numTensors).toBe(before);
    expect(result.numExamples).toBe(7);
    expect(result.indices).toEqual([3, 4, 5, 6, 7, 8, 9]);
    expect(Array.from(result.labels)).toEqual([3, 0, 1, 2, 3, 0, 1]);
    expect(result.probabilities).toHaveLength(7 * 4);
    for (let r = 0; r < 7; r++) {
      const row = result.probabilities.subarray(r * 4, r * 4 + 4);
      expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    }
    expect(result.confusion.flat().reduce((a, b) => a + b, 0)).toBe(7);

    // Independent check: predict with the layers model and count mask pixels by hand.
    const pixels = 32 * 32;
    const x = tf.tensor4d(images.images.subarray(3 * pixels), [7, 32, 32, 1]);
    const [logits, maskLogits] = network.model.predict(x) as import("@tensorflow/tfjs-core").Tensor[];
    const masks = maskLogits?.dataSync() ?? [];
    let diceSum = 0;
    let intersection = 0;
    let predicted = 0;
    for (let r = 0; r < 7; r++) {
      let i = 0;
      let p = 0;
      let t = 0;
      for (let q = 0; q < pixels; q++) {
        const inPred = (masks[r * pixels + q] as number) >= 0; // sigmoid >= 0.5
        const inTruth = images.masks[(r + 3) * pixels + q] === 1;
        if (inPred) p++;
        if (inTruth) t++;
        if (inPred && inTruth) i++;
      }
      diceSum += p + t === 0 ? 1 : (2 * i) / (p + t);
      intersection += i;
      predicted += p;
    }
    expect(result.segmentation.images).toBe(7);
    expect(result.segmentation.diceSum).toBeCloseTo(diceSum, 9);
    expect(result.segmentation.intersection).toBe(intersection);
    expect(result.segmentation.predicted).toBe(predicted);
    const softmaxTensor = tf.softmax(logits as import("@tensorflow/tfjs-core").Tensor);
    const softmax = softmaxTensor.dataSync();
    expectClose(result.probabilities, softmax, 5);
    tf.dispose([x, logits, maskLogits, softmaxTensor]);
    network.dispose();
  });
});
