import * as tf from "@tensorflow/tfjs-core";
import { Rng } from "../../../shared/src/random.js";

export interface ProbeResult {
  readonly features: number;
  readonly trainImages: number;
  readonly testImages: number;
  readonly accuracy: number;
  readonly chance: number;
}

/** Share of each site's images that trains the probe; the rest scores it. */
export const PROBE_TRAIN_SHARE = 0.6;

/**
 * A linear probe: multinomial logistic regression from standardised features to the site,
 * trained on a seeded, per-site stratified share of the images and scored on the rest. Zero
 * initial weights and full-batch Adam make it deterministic; the loss is convex, so the steps
 * only need to be enough. High held-out accuracy means the features encode the site.
 */
export async function siteProbe(
  features: Float32Array,
  dimension: number,
  sites: Int32Array,
  options: { seed: number; steps?: number; learningRate?: number; l2?: number },
): Promise<ProbeResult> {
  const n = sites.length;
  const numSites = Math.max(0, ...sites) + 1;
  const bySite: number[][] = Array.from({ length: numSites }, () => []);
  sites.forEach((site, i) => {
    bySite[site]?.push(i);
  });
  const rng = new Rng(options.seed);
  const train: number[] = [];
  const test: number[] = [];
  for (const list of bySite) {
    const shuffled = rng.shuffle([...list]);
    const cut = Math.round(shuffled.length * PROBE_TRAIN_SHARE);
    train.push(...shuffled.slice(0, cut));
    test.push(...shuffled.slice(cut));
  }
  if (n === 0 || train.length === 0 || test.length === 0) {
    return {
      features: dimension,
      trainImages: train.length,
      testImages: test.length,
      accuracy: 0,
      chance: 0,
    };
  }
  // Standardise with the training images' statistics only, so nothing of the test set leaks in.
  const mean = new Float64Array(dimension);
  const sd = new Float64Array(dimension);
  for (const i of train)
    for (let d = 0; d < dimension; d++)
      mean[d] = (mean[d] as number) + (features[i * dimension + d] as number);
  for (let d = 0; d < dimension; d++) mean[d] = (mean[d] as number) / train.length;
  for (const i of train) {
    for (let d = 0; d < dimension; d++)
      sd[d] = (sd[d] as number) + ((features[i * dimension + d] as number) - (mean[d] as number)) ** 2;
  }
  for (let d = 0; d < dimension; d++) sd[d] = Math.sqrt((sd[d] as number) / train.length) || 1;
  const matrix = (rows: readonly number[]): tf.Tensor2D => {
    const out = new Float32Array(rows.length * dimension);
    rows.forEach((i, r) => {
      for (let d = 0; d < dimension; d++) {
        out[r * dimension + d] =
          ((features[i * dimension + d] as number) - (mean[d] as number)) / (sd[d] as number);
      }
    });
    return tf.tensor2d(out, [rows.length, dimension]);
  };
  const xTrain = matrix(train);
  const xTest = matrix(test);
  const yTrain = tf.oneHot(
    tf.tensor1d(
      train.map((i) => sites[i] as number),
      "int32",
    ),
    numSites,
  );
  const w = tf.variable(tf.zeros([dimension, numSites]));
  const b = tf.variable(tf.zeros([numSites]));
  const optimizer = tf.train.adam(options.learningRate ?? 0.05);
  const l2 = options.l2 ?? 1e-3;
  try {
    for (let step = 0; step < (options.steps ?? 300); step++) {
      optimizer.minimize(
        () =>
          tf.add(
            tf.losses.softmaxCrossEntropy(yTrain, tf.add(tf.matMul(xTrain, w), b)),
            tf.mul(l2, tf.sum(tf.square(w))),
          ) as tf.Scalar,
      );
    }
    const predicted = tf.tidy(() => tf.argMax(tf.add(tf.matMul(xTest, w), b), 1));
    const labels = (await predicted.data()) as Int32Array;
    predicted.dispose();
    let correct = 0;
    const counts = new Array<number>(numSites).fill(0);
    test.forEach((i, r) => {
      if (labels[r] === sites[i]) correct++;
      counts[sites[i] as number] = (counts[sites[i] as number] ?? 0) + 1;
    });
    return {
      features: dimension,
      trainImages: train.length,
      testImages: test.length,
      accuracy: correct / test.length,
      chance: Math.max(...counts) / test.length,
    };
  } finally {
    optimizer.dispose();
    tf.dispose([xTrain, xTest, yTrain, w, b]);
  }
}
