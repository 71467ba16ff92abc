import * as tfl from "@tensorflow/tfjs-layers";
import { beforeAll, describe, expect, it } from "vitest";
import { buildExplainer, type Explainer, gradCam } from "../../../client/src/analysis/explainer.js";
import { meanPointing, pointingScore } from "../../../client/src/analysis/pointing.js";
import { cascadingRandomisation, SANITY_MAX_ABS_SPEARMAN } from "../../../client/src/analysis/sanity.js";
import { evaluateClassifier, trainClassifier } from "../../../client/src/training/local-training.js";
import type { SmallCnnSpec } from "../../../shared/src/fl/model-spec.js";
import type { ImageSet } from "../../../shared/src/ml/data/types.js";
import { buildSmallCnn, manifestOf, readWeights } from "../../../shared/src/ml/model/index.js";
import { Rng } from "../../../shared/src/random.js";
import type { ModelWeights } from "../../../shared/src/weights/types.js";
import { wasmBackend } from "../../helpers/training.js";

// Class c is the kind of a small object (bright or dark, filled or hollow square) drawn
// at a random place: the class can only be told from the object, so a model that learns the task
// must look at it. (Not toyImageSet, whose class is a position: a globally pooled CNN reads
// position from the zero padding at the borders, not from the square.)
const SIZE = 32;
const SIDE = 10;

function objectImages(count: number, seed: number): ImageSet {
  const rng = new Rng(seed);
  const pixels = SIZE * SIZE;
  const images = new Float32Array(count * pixels);
  const masks = new Uint8Array(count * pixels);
  const labels = new Int32Array(count);
  // Bright or dark, filled or hollow: told apart by the object's own pixels only.
  const ring = (u: number, v: number): boolean => u < 3 || v < 3 || u >= SIDE - 3 || v >= SIDE - 3;
  const objects = [
    { value: 0.95, drawn: () => true },
    { value: 0.05, drawn: () => true },
    { value: 0.95, drawn: ring },
    { value: 0.05, drawn: ring },
  ];
  for (let i = 0; i < count; i++) {
    const label = i % 4;
    labels[i] = label;
    for (let p = 0; p < pixels; p++) images[i * pixels + p] = 0.45 + 0.1 * rng.next();
    const x0 = rng.int(SIZE - SIDE + 1);
    const y0 = rng.int(SIZE - SIDE + 1);
    for (let v = 0; v < SIDE; v++) {
      for (let u = 0; u < SIDE; u++) {
        const p = i * pixels + (y0 + v) * SIZE + x0 + u;
        masks[p] = 1;
        const object = objects[label] as (typeof objects)[number];
        if (object.drawn(u, v)) images[p] = object.value;
      }
    }
  }
  const ids = Array.from({ length: count }, (_, i) => `img${i}`);
  return { size: SIZE, count, images, labels, masks, imageIds: ids, studyIds: ids, patientIds: ids };
}
const spec: SmallCnnSpec = {
  architecture: "small-cnn",
  imageSize: SIZE,
  widths: [8, 16],
  numClasses: 4,
  seed: 5,
};
const train = objectImages(256, 1);
const test = objectImages(32, 2);
let tf: Awaited<ReturnType<typeof wasmBackend>>;
let weights: ModelWeights;
let explainer: Explainer;
let accuracy = 0;

beforeAll(async () => {
  tf = await wasmBackend();
  const model = buildSmallCnn(spec);
  await trainClassifier(tf, model, train, {
    hyper: { epochs: 10, batchSize: 16, learningRate: 0.01, classWeighting: "none", maxStepsPerRound: 0 },
    numClasses: 4,
    seed: 3,
  });
  const evaluated = await evaluateClassifier(tf, model, test, { numClasses: 4 });
  accuracy = evaluated.confusion.reduce((sum, row, c) => sum + (row[c] as number), 0) / test.count;
  weights = readWeights(model, manifestOf(model));
  model.dispose();
  explainer = buildExplainer(spec, weights);
}, 120_000);

const testImages = (): import("@tensorflow/tfjs-core").Tensor4D =>
  tf.tensor4d(test.images, [test.count, SIZE, SIZE, 1]);
const labels = (): number[] => Array.from(test.labels);

describe("Grad-CAM", () => {
  it("points at the object the model keys on", async () => {
    expect(accuracy, "the toy task is learnt").toBeGreaterThan(0.9);
    const x = testImages();
    const maps = explainer.classCam(x, labels());
    const data = (await maps.data()) as Float32Array;
    tf.dispose([x, maps]);
    const pixels = SIZE * SIZE;
    const scores = labels().map((_, i) =>
      pointingScore(
        data.subarray(i * pixels, (i + 1) * pixels),
        test.masks.subarray(i * pixels, (i + 1) * pixels),
      ),
    );
    const mean = meanPointing(scores.filter((s) => s !== undefined));
    expect(mean.images).toBe(test.count);
    expect(mean.chance).toBeCloseTo((SIDE * SIDE) / (SIZE * SIZE), 12);
    // Chance is 10%; a map that follows the object puts several times that inside its box
    // (measured: 43% inside, peak inside for 27 of 32 images).
    expect(mean.massInside).toBeGreaterThan(3 * mean.chance);
    expect(mean.hitRate).toBeGreaterThan(0.7);
  });

  it("equals CAM, ReLU(sum_k w_kc A_k) / (h w), for global pooling and a linear head", async () => {
    const model = explainer.model;
    const trunk = tfl.model({
      inputs: model.inputs,
      outputs: model.getLayer(explainer.camLayer).output as tfl.SymbolicTensor,
    });
    const x = testImages();
    const activations = trunk.predict(x) as import("@tensorflow/tfjs-core").Tensor4D;
    const [n, h, w, k] = activations.shape;
    const kernel = (await model.getLayer("head.logits").getWeights()[0]?.data()) as Float32Array;
    const a = (await activations.data()) as Float32Array;
    const classes = labels();
    const dense = model.getLayer("head.logits");
    const pool = model.getLayer("pool");
    const cam = gradCam(
      activations,
      (act) =>
        tf.mul(
          dense.apply(pool.apply(act)) as import("@tensorflow/tfjs-core").Tensor2D,
          tf.oneHot(tf.tensor1d(classes, "int32"), 4),
        ),
      h, // no upsampling: compare at the activations' resolution
    );
    const got = (await cam.data()) as Float32Array;
    tf.dispose([x, activations, cam]);
    let worst = 0;
    for (let i = 0; i < n; i++) {
      const c = classes[i] as number;
      for (let p = 0; p < h * w; p++) {
        let sum = 0;
        for (let ch = 0; ch < k; ch++)
          sum += (kernel[ch * 4 + c] as number) * (a[(i * h * w + p) * k + ch] as number);
        const expected = Math.max(0, sum) / (h * w);
        worst = Math.max(worst, Math.abs((got[i * h * w + p] as number) - expected));
      }
    }
    expect(worst).toBeLessThan(1e-5);
  });

  it("fails the randomisation check for a map that ignores the weights, passes it for Grad-CAM", async () => {
    const x = testImages();
    const before = explainer.logits(x);
    const beforeValues = Array.from(await before.data());
    const real = await cascadingRandomisation(explainer, weights, x, labels());
    expect(real.steps.map((s) => s.randomisedUpTo)).toEqual([
      "head.logits",
      "stage2.conv2",
      "stage2.conv1",
      "stage1.conv2",
      "stage1.conv1",
    ]);
    const last = real.steps[real.steps.length - 1];
    expect(last?.images).toBe(test.count);
    expect(Math.abs(last?.meanSpearman ?? 1)).toBeLessThan(SANITY_MAX_ABS_SPEARMAN);
    expect(real.passed).toBe(true);
    // The trained weights are back afterwards.
    const after = explainer.logits(x);
    expect(Array.from(await after.data())).toEqual(beforeValues);
    // A "saliency" that is the image itself does not change when the weights do.
    const imageMap: Explainer = {
      ...explainer,
      classCam: (input) => tf.tidy(() => tf.squeeze(input, [3]) as import("@tensorflow/tfjs-core").Tensor3D),
    };
    const blind = await cascadingRandomisation(imageMap, weights, x, labels());
    expect(blind.steps.every((s) => s.meanSpearman > 0.99)).toBe(true);
    expect(blind.passed).toBe(false);
    tf.dispose([x, before, after]);
  });
});
