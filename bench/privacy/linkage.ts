import type * as tfc from "@tensorflow/tfjs-core";
import type { LoadedBackend } from "../../shared/src/ml/tf/backend.js";
import { type CnnParams, weightGradients } from "./cnn.js";
import type { Observation } from "./observation.js";

type Tf = LoadedBackend["tf"];

/**
 * Gradient matching against a gallery: the coordinator holds candidate images (a list of
 * suspected patients, leaked or public scans) and asks which of them were in the batch behind an
 * update, ranking each candidate by the cosine similarity of its own gradient (under each label
 * the update's head bias admits, iDLG) to the observed one. Cheaper and sharper than inversion:
 * one gradient per candidate, no optimisation. Returns the fraction of the batch's images found
 * among the top `batch` candidates (chance: batch / candidates).
 */
export function linkageRecall(
  tf: Tf,
  params: CnnParams,
  observation: Observation,
  candidates: readonly Float32Array[],
  truthIndices: readonly number[],
  labels: readonly number[],
): number {
  const size = params.spec.imageSize;
  const observed = observation.gradient;
  const observedNorm = Math.sqrt(observed.reduce((s, v) => s + v.reduce((a, b) => a + b * b, 0), 0));
  const distinct = [...new Set(labels)];
  const scores = candidates.map((image) =>
    Math.max(
      ...distinct.map((label) =>
        tf.tidy(() => {
          const x = tf.tensor4d(image, [1, size, size, 1]);
          const oneHot = tf.oneHot(tf.tensor1d([label], "int32"), params.spec.numClasses) as tfc.Tensor2D;
          const grads = weightGradients(tf, params, x, oneHot).map((g) => g.dataSync() as Float32Array);
          let dot = 0;
          let norm = 0;
          grads.forEach((g, k) => {
            const o = observed[k] as Float32Array;
            for (let i = 0; i < g.length; i++) {
              dot += (g[i] as number) * (o[i] as number);
              norm += (g[i] as number) ** 2;
            }
          });
          return dot / (Math.sqrt(norm) * observedNorm + 1e-30);
        }),
      ),
    ),
  );
  const top = scores
    .map((score, index) => ({ score, index }))
    .sort((a, b) => b.score - a.score)
    .slice(0, truthIndices.length)
    .map((e) => e.index);
  return truthIndices.filter((t) => top.includes(t)).length / truthIndices.length;
}
