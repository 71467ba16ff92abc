/**
 * Hardness check of the synthetic chest X-ray generator (issue 4): a small CNN trained centrally
 * on the pooled train splits of a synthetic federation must reach a macro-F1 clearly above chance
 * (0.25) and clearly below 1. Also measures the generator's images per minute at 128 px.
 *
 *   node --import tsx bench/data-hardness.ts [--images-per-site 600] [--size 64] [--epochs 24]
 *       [--preset 3-hospitals] [--seed 1] [--backend auto] [--out bench/results/data-hardness.json]
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import * as tfl from "@tensorflow/tfjs-layers";
import type { ImageSet } from "../shared/src/ml/data/index.js";
import {
  CLASS_KEYS,
  generateImage,
  listSites,
  loadSiteSplits,
  NUM_CLASSES,
  SITE_PRESETS,
} from "../shared/src/ml/data/index.js";
import { type BackendPreference, initBackend } from "../shared/src/ml/tf/backend.js";

const { values: args } = parseArgs({
  options: {
    "images-per-site": { type: "string", default: "600" },
    size: { type: "string", default: "64" },
    epochs: { type: "string", default: "24" },
    preset: { type: "string", default: "3-hospitals" },
    seed: { type: "string", default: "1" },
    backend: { type: "string", default: "auto" },
    out: { type: "string", default: "bench/results/data-hardness.json" },
  },
});
const imagesPerSite = Number(args["images-per-site"]);
const size = Number(args.size);
const epochs = Number(args.epochs);
const seed = Number(args.seed);

function measureGenerator(): number {
  const profiles = SITE_PRESETS["3-hospitals"] ?? [];
  const n = 300;
  for (let i = 0; i < 10; i++)
    generateImage({
      size: 128,
      label: i % 4,
      patientSeed: i,
      studySeed: i,
      imageSeed: i,
      profile: profiles[i % 3] as never,
    });
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    generateImage({
      size: 128,
      label: i % 4,
      patientSeed: i,
      studySeed: i + 7,
      imageSeed: i + 13,
      profile: profiles[i % 3] as never,
    });
  }
  return (n / (performance.now() - t0)) * 60000;
}

function concat(sets: readonly ImageSet[]): { images: Float32Array; labels: Int32Array; count: number } {
  const count = sets.reduce((s, x) => s + x.count, 0);
  const images = new Float32Array(count * size * size);
  const labels = new Int32Array(count);
  let k = 0;
  for (const set of sets) {
    images.set(set.images, k * size * size);
    labels.set(set.labels, k);
    k += set.count;
  }
  return { images, labels, count };
}

function confusion(truth: Int32Array, predicted: Int32Array): number[][] {
  const m = Array.from({ length: NUM_CLASSES }, () => new Array<number>(NUM_CLASSES).fill(0));
  truth.forEach((t, i) => {
    const row = m[t] as number[];
    row[predicted[i] as number] = (row[predicted[i] as number] ?? 0) + 1;
  });
  return m;
}

function f1Scores(m: number[][]): number[] {
  return m.map((row, c) => {
    const tp = row[c] ?? 0;
    const fn = row.reduce((s, x) => s + x, 0) - tp;
    const fp = m.reduce((s, r) => s + (r[c] ?? 0), 0) - tp;
    return tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn);
  });
}

const started = Date.now();
const { tf, name: backend } = await initBackend({ prefer: args.backend as BackendPreference });
const imagesPerMinute = measureGenerator();
console.error(`generator: ${Math.round(imagesPerMinute)} images/min at 128x128 (one core)`);

const config = {
  kind: "synthetic" as const,
  preset: args.preset ?? "3-hospitals",
  imagesPerSite,
  imageSize: size,
  seed,
};
const sites = await listSites(config);
const splits = await Promise.all(sites.map((site) => loadSiteSplits(config, site)));
const train = concat(splits.map((s) => s.train));
const val = concat(splits.map((s) => s.val));
const test = concat(splits.map((s) => s.test));
console.error(
  `data: ${train.count} train, ${val.count} val, ${test.count} test images at ${size}px from ${sites.join(", ")}`,
);

const classCounts = new Array<number>(NUM_CLASSES).fill(0);
for (const l of train.labels) classCounts[l] = (classCounts[l] ?? 0) + 1;
const classWeight: Record<number, number> = {};
classCounts.forEach((n, c) => {
  classWeight[c] = train.count / (NUM_CLASSES * Math.max(1, n));
});

function buildModel(): tfl.LayersModel {
  const input = tfl.input({ shape: [size, size, 1] });
  let x: tfl.SymbolicTensor = input;
  let s = seed * 100;
  for (const filters of [16, 32, 48, 64]) {
    for (const strides of [1, 2]) {
      x = tfl.layers
        .conv2d({
          filters,
          kernelSize: 3,
          strides,
          padding: "same",
          useBias: false,
          kernelInitializer: tfl.initializers.heNormal({ seed: s++ }),
        })
        .apply(x) as tfl.SymbolicTensor;
      x = tfl.layers.batchNormalization().apply(x) as tfl.SymbolicTensor;
      x = tfl.layers.reLU().apply(x) as tfl.SymbolicTensor;
    }
  }
  x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  const out = tfl.layers
    .dense({
      units: NUM_CLASSES,
      activation: "softmax",
      kernelInitializer: tfl.initializers.glorotUniform({ seed: s++ }),
    })
    .apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

const toX = (d: { images: Float32Array; count: number }) =>
  tf.tidy(() => tf.mul(tf.sub(tf.tensor4d(d.images, [d.count, size, size, 1]), 0.5), 4));
const xTrain = toX(train);
const yTrain = tf.oneHot(tf.tensor1d(train.labels, "int32"), NUM_CLASSES);
const xVal = toX(val);
const xTest = toX(test);
const model = buildModel();
const optimizer = tf.train.adam(1e-3);
model.compile({ optimizer, loss: "categoricalCrossentropy" });

function evaluate(x: ReturnType<typeof toX>, labels: Int32Array) {
  const predicted = tf
    .tidy(() => tf.argMax(model.predict(x, { batchSize: 64 }) as ReturnType<typeof toX>, -1))
    .dataSync();
  const m = confusion(labels, Int32Array.from(predicted));
  const f1 = f1Scores(m);
  const accuracy = m.reduce((s, row, c) => s + (row[c] ?? 0), 0) / labels.length;
  return { macroF1: f1.reduce((s, x) => s + x, 0) / NUM_CLASSES, f1, accuracy, confusion: m };
}

let best = { epoch: 0, val: evaluate(xVal, val.labels), test: evaluate(xTest, test.labels) };
for (let epoch = 1; epoch <= epochs; epoch++) {
  const t0 = Date.now();
  // Step decay: a third of the rate for the last third of the epochs.
  if (epoch === Math.floor((2 * epochs) / 3) + 1)
    (optimizer as unknown as { learningRate: number }).learningRate = 3e-4;
  const history = await model.fit(xTrain, yTrain, {
    epochs: 1,
    batchSize: 32,
    shuffle: true,
    classWeight,
    verbose: 0,
  });
  const v = evaluate(xVal, val.labels);
  const loss = Number(history.history.loss?.[0] ?? Number.NaN);
  console.error(
    `epoch ${epoch}: loss ${loss.toFixed(3)} val macro-F1 ${v.macroF1.toFixed(3)} acc ${v.accuracy.toFixed(3)} (${((Date.now() - t0) / 1000).toFixed(0)} s)`,
  );
  if (v.macroF1 >= best.val.macroF1) best = { epoch, val: v, test: evaluate(xTest, test.labels) };
}
const result = {
  generatorImagesPerMinute128: Math.round(imagesPerMinute),
  backend,
  preset: config.preset,
  imagesPerSite,
  imageSize: size,
  seed,
  epochs,
  counts: { train: train.count, val: val.count, test: test.count },
  chanceMacroF1: 0.25,
  bestEpoch: best.epoch,
  val: { macroF1: best.val.macroF1, accuracy: best.val.accuracy },
  test: {
    macroF1: best.test.macroF1,
    accuracy: best.test.accuracy,
    f1: Object.fromEntries(CLASS_KEYS.map((k, i) => [k, best.test.f1[i]])),
    confusion: best.test.confusion,
  },
  seconds: Math.round((Date.now() - started) / 1000),
};
mkdirSync(dirname(args.out ?? "bench/results/data-hardness.json"), { recursive: true });
writeFileSync(args.out ?? "bench/results/data-hardness.json", `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result, null, 2));
