import { beforeAll, expect, it } from "vitest";
import {
  evaluateClassifier,
  inverseFrequencyWeights,
  trainClassifier,
} from "../../../../client/src/training/local-training.js";
import type { ImageSet } from "../../../../shared/src/ml/data/types.js";
import { buildModel } from "../../../../shared/src/ml/model/index.js";
import { initBackend, type LoadedBackend } from "../../../../shared/src/ml/tf/backend.js";

let backend: LoadedBackend;
beforeAll(async () => {
  backend = await initBackend({ prefer: "wasm", log: () => {} });
});

/** Class k images are uniformly bright at level (k + 1) / 5 plus a little noise: easy to separate. */
function brightnessSet(n: number, size: number): ImageSet {
  const images = new Float32Array(n * size * size);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 4;
    for (let p = 0; p < size * size; p++)
      images[i * size * size + p] = (labels[i]! + 1) / 5 + (((i * 31 + p * 17) % 13) - 6) / 200;
  }
  return {
    size,
    count: n,
    images,
    labels,
    masks: new Uint8Array(n * size * size),
    imageIds: [],
    studyIds: [],
    patientIds: [],
  };
}

it("weights classes by inverse frequency, normalised over the classes present", () => {
  // counts 6, 2, 0, 4 of 12: 12 / (3·6) = 2/3, 12 / (3·2) = 2, absent → 0, 12 / (3·4) = 1
  const labels = [0, 0, 0, 0, 0, 0, 1, 1, 3, 3, 3, 3, -1];
  const weights = inverseFrequencyWeights(labels, 4);
  expect(weights[0]).toBeCloseTo(2 / 3, 10);
  expect(weights[1]).toBeCloseTo(2, 10);
  expect(weights[2]).toBe(0);
  expect(weights[3]).toBeCloseTo(1, 10);
});

it("learns an easy task, reports counts and leaks no tensors across rounds", async () => {
  const { tf } = backend;
  const set = brightnessSet(32, 16);
  const model = buildModel({ architecture: "small-cnn", imageSize: 16, widths: [8], numClasses: 4, seed: 3 });
  const hyper = {
    epochs: 3,
    batchSize: 8,
    learningRate: 1e-2,
    classWeighting: "none" as const,
    maxStepsPerRound: 0,
  };
  const before = tf.memory().numTensors;
  const first = await trainClassifier(tf, model, set, { hyper, numClasses: 4, seed: 1 });
  let last = first;
  for (let round = 2; round <= 6; round++)
    last = await trainClassifier(tf, model, set, { hyper, numClasses: 4, seed: round });
  const evaluation = await evaluateClassifier(tf, model, set, { numClasses: 4 });
  expect(tf.memory().numTensors).toBe(before);
  expect(first.numExamples).toBe(32);
  expect(first.metrics.steps).toBe(12);
  expect(last.metrics.loss).toBeLessThan(first.metrics.loss!);
  expect(evaluation.numExamples).toBe(32);
  expect(evaluation.confusion.flat().reduce((a, b) => a + b, 0)).toBe(32);
  const correct = evaluation.confusion.reduce((sum, row, i) => sum + row[i]!, 0);
  expect(correct / 32).toBeGreaterThan(0.5);
  model.dispose();
});

it("caps local steps per round and skips unlabelled images", async () => {
  const { tf } = backend;
  const base = brightnessSet(24, 16);
  const labels = Int32Array.from(base.labels, (l, i) => (i < 8 ? -1 : l));
  const set = { ...base, labels };
  const model = buildModel({ architecture: "small-cnn", imageSize: 16, widths: [4], numClasses: 4, seed: 3 });
  const result = await trainClassifier(tf, model, set, {
    hyper: {
      epochs: 5,
      batchSize: 4,
      learningRate: 1e-3,
      classWeighting: "inverse-frequency",
      maxStepsPerRound: 3,
    },
    numClasses: 4,
    seed: 1,
  });
  expect(result.numExamples).toBe(16);
  expect(result.metrics.steps).toBe(3);
  model.dispose();
});

it("FedProx keeps local weights closer to the global model as μ grows", async () => {
  const { tf } = backend;
  const set = brightnessSet(16, 16);
  const { readWeights, manifestOf } = await import("../../../../shared/src/ml/model/index.js");
  const drift = async (mu: number) => {
    const model = buildModel({
      architecture: "small-cnn",
      imageSize: 16,
      widths: [4],
      numClasses: 4,
      seed: 5,
    });
    const start = readWeights(model, manifestOf(model)).values;
    await trainClassifier(tf, model, set, {
      hyper: { epochs: 2, batchSize: 8, learningRate: 5e-2, classWeighting: "none", maxStepsPerRound: 0 },
      numClasses: 4,
      seed: 1,
      fedproxMu: mu,
    });
    const end = readWeights(model, manifestOf(model)).values;
    model.dispose();
    let sum = 0;
    for (let i = 0; i < end.length; i++) sum += (end[i]! - start[i]!) ** 2;
    return Math.sqrt(sum);
  };
  const free = await drift(0);
  const held = await drift(100);
  expect(held).toBeLessThan(free * 0.8);
});
