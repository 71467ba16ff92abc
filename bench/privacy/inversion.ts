import type * as tfc from "@tensorflow/tfjs-core";
import type { LoadedBackend } from "../../shared/src/ml/tf/backend.js";
import { type CnnParams, cnnForward, weightGradients } from "./cnn.js";
import type { Observation } from "./observation.js";

type Tf = LoadedBackend["tf"];

/** How hard the attacker tries. */
export interface InversionOptions {
  /** Adam steps per restart. */
  readonly iterations: number;
  /** Random starts; the one with the lowest attack loss is kept (the attacker cannot see the truth). */
  readonly restarts: number;
  /** Weight of the total-variation prior. */
  readonly tvWeight: number;
  /** Weight of the batch-norm statistics term (0: gradient only, as Geiping et al.). */
  readonly bnWeight: number;
  readonly learningRate: number;
  /** Wall-clock bound: the attack stops (keeping its best so far) when it passes. */
  readonly deadline: number;
  readonly seed: number;
}

export const DEFAULT_INVERSION: Omit<InversionOptions, "deadline" | "seed"> = {
  iterations: 200,
  restarts: 1,
  tvWeight: 0.02,
  bnWeight: 1,
  learningRate: 0.05,
};

/**
 * iDLG's label inference (Zhao et al. 2020) from the head bias's gradient, mean over the batch of
 * softmax − onehot: only a label present in the batch can make its entry negative. For a batch
 * larger than the number of negative entries the most negative labels are repeated, the simple
 * extension later papers use; with distinct labels it is exact.
 */
export function inferLabels(biasGradient: ArrayLike<number>, batch: number): number[] {
  const order = Array.from(biasGradient, (g, c) => ({ g, c })).sort((a, b) => a.g - b.g);
  const negative = order.filter((e) => e.g < 0).map((e) => e.c);
  const pool = negative.length > 0 ? negative : [order[0]?.c ?? 0];
  return Array.from({ length: batch }, (_, i) => pool[i % pool.length] as number);
}

export interface InversionResult {
  /** batch × size × size reconstructions in [0, 1]. */
  readonly images: Float32Array[];
  readonly labels: number[];
  /** 1 − cosine similarity reached (plus nothing of the prior). */
  readonly cosineLoss: number;
  readonly iterationsRun: number;
  readonly ms: number;
}

/**
 * Gradient inversion as Geiping, Bauermeister, Dröge & Moeller 2020 ("Inverting Gradients — How
 * easy is it to break privacy in federated learning?") set it up: dummy images, optimised with
 * Adam so that the weight gradient they produce points the way the observed update does (1 −
 * cosine similarity over all trainable tensors, which ignores the learning rate), plus a
 * total-variation prior; pixels kept in [0, 1]. Departures, chosen by trial on this model: plain
 * Adam steps (the signed steps of the paper stalled here), the step size divided by 10 at 3/4 and
 * 7/8 of a much shorter run, and a batch-norm statistics term (below).
 */
export function invertGradient(
  tf: Tf,
  params: CnnParams,
  observation: Observation,
  batch: number,
  options: InversionOptions,
): InversionResult {
  const started = performance.now();
  const size = params.spec.imageSize;
  const classes = params.spec.numClasses;
  const observed = observation.gradient;
  const labels = inferLabels(observed[observed.length - 1] as Float32Array, batch);
  const statTargets = observation.stats.map((s) => ({
    mean: tf.tensor1d(s.mean),
    variance: tf.tensor1d(s.variance),
  }));
  const statNorms = observation.stats.map(
    (s) => s.mean.reduce((a, v) => a + v * v, 0) + s.variance.reduce((a, v) => a + v * v, 0) + 1e-12,
  );
  const targets = observed.map((values, i) => tf.tensor(values, (params.tensors[i] as tfc.Tensor).shape));
  const targetNorm = Math.sqrt(observed.reduce((s, v) => s + v.reduce((a, b) => a + b * b, 0), 0));
  const oneHot = tf.oneHot(tf.tensor1d(labels, "int32"), classes) as tfc.Tensor2D;
  let best: { images: Float32Array[]; loss: number } | undefined;
  let iterationsRun = 0;
  try {
    for (let restart = 0; restart < options.restarts; restart++) {
      if (restart > 0 && performance.now() > options.deadline) break;
      const x = tf.variable(
        tf.randomUniform([batch, size, size, 1], 0, 1, "float32", options.seed * 97 + restart),
      );
      const optimizer = tf.train.adam(options.learningRate);
      const objective = () =>
        tf.tidy(() => {
          const g = weightGradients(tf, params, x as unknown as tfc.Tensor4D, oneHot);
          let dot: tfc.Tensor = tf.scalar(0);
          let norm: tfc.Tensor = tf.scalar(0);
          g.forEach((gi, k) => {
            dot = tf.add(dot, tf.sum(tf.mul(gi, targets[k] as tfc.Tensor)));
            norm = tf.add(norm, tf.sum(tf.square(gi)));
          });
          const cosine = tf.div(dot, tf.mul(tf.sqrt(tf.add(norm, 1e-20)), targetNorm));
          return tf.sub(1, cosine) as tfc.Scalar;
        });
      // The update also carries every batch-norm layer's batch mean and variance (its moving
      // statistics' step): matching them is the prior "See through gradients" (Yin et al. 2021)
      // draws from a model's BN statistics, here read exactly off the update.
      const bn = () =>
        tf.tidy(() => {
          const { stats } = cnnForward(tf, params.spec, params.tensors, x as unknown as tfc.Tensor4D);
          let total: tfc.Tensor = tf.scalar(0);
          stats.forEach((s, l) => {
            const t = statTargets[l] as (typeof statTargets)[number];
            const err = tf.add(
              tf.sum(tf.squaredDifference(s.mean, t.mean)),
              tf.sum(tf.squaredDifference(s.variance, t.variance)),
            );
            total = tf.add(total, tf.div(err, statNorms[l] as number));
          });
          return tf.div(total, Math.max(1, stats.length)) as tfc.Scalar;
        });
      const tv = () =>
        tf.tidy(() => {
          const down = tf.abs(
            tf.sub(
              tf.slice(x, [0, 1, 0, 0], [-1, -1, -1, -1]),
              tf.slice(x, [0, 0, 0, 0], [-1, size - 1, -1, -1]),
            ),
          );
          const right = tf.abs(
            tf.sub(
              tf.slice(x, [0, 0, 1, 0], [-1, -1, -1, -1]),
              tf.slice(x, [0, 0, 0, 0], [-1, -1, size - 1, -1]),
            ),
          );
          return tf.add(tf.mean(down), tf.mean(right)) as tfc.Scalar;
        });
      try {
        for (let it = 0; it < options.iterations; it++) {
          if (performance.now() > options.deadline) break;
          const fraction = it / options.iterations;
          // tfjs reads the field on every step; it is not part of the optimizer's public type.
          (optimizer as unknown as { learningRate: number }).learningRate =
            options.learningRate * (fraction < 3 / 4 ? 1 : fraction < 7 / 8 ? 0.1 : 0.01);
          optimizer.minimize(
            () =>
              tf.addN([
                objective(),
                tf.mul(tv(), options.tvWeight),
                tf.mul(bn(), options.bnWeight),
              ]) as tfc.Scalar,
            false,
            [x],
          );
          tf.tidy(() => {
            x.assign(tf.clipByValue(x, 0, 1));
          });
          iterationsRun++;
        }
        const loss = scalarOf(objective);
        if (best === undefined || loss < best.loss) {
          const pixels = x.dataSync() as Float32Array;
          best = {
            loss,
            images: Array.from({ length: batch }, (_, b) =>
              pixels.slice(b * size * size, (b + 1) * size * size),
            ),
          };
        }
      } finally {
        optimizer.dispose();
        x.dispose();
      }
    }
  } finally {
    tf.dispose([...targets, oneHot, ...statTargets.flatMap((s) => [s.mean, s.variance])]);
  }
  if (best === undefined) throw new Error("the inversion ran no restart");
  return {
    images: best.images,
    labels,
    cosineLoss: best.loss,
    iterationsRun,
    ms: performance.now() - started,
  };
}

function scalarOf(f: () => tfc.Scalar): number {
  const t = f();
  try {
    return t.dataSync()[0] as number;
  } finally {
    t.dispose();
  }
}
