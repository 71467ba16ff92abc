import type * as tf from "@tensorflow/tfjs-core";
import { writeWeights } from "../../../shared/src/ml/model/index.js";
import type { ModelWeights } from "../../../shared/src/weights/types.js";
import type { Explainer } from "./explainer.js";
import { spearman } from "./spearman.js";

/** Seed of the re-initialised weights: fixed, so that a run's check is repeatable. */
export const RANDOMISATION_SEED = 0x5a17;

/**
 * The verdict rule: the maps depend on the learned weights when, with the whole classification
 * path re-initialised, the mean |ρ| between trained and randomised maps is below this.
 * (Adebayo et al. 2018 call a method that keeps high rank correlation under randomisation
 * independent of the model; 0.5 leaves at most a moderate resemblance.)
 */
export const SANITY_MAX_ABS_SPEARMAN = 0.5;

export interface SanityStep {
  readonly randomisedUpTo: string;
  readonly meanSpearman: number;
  readonly images: number;
}

/** `weights` with the named tensors taken from `source` (same architecture; matched by name). */
export function replaceTensors(
  weights: ModelWeights,
  source: ModelWeights,
  names: ReadonlySet<string>,
): ModelWeights {
  const values = weights.values.slice();
  const bySource = new Map(source.manifest.tensors.map((t) => [t.name, t]));
  for (const spec of weights.manifest.tensors) {
    if (!names.has(spec.name)) continue;
    const from = bySource.get(spec.name);
    if (!from || from.length !== spec.length)
      throw new RangeError(`no tensor ${spec.name} of ${spec.length} values to take`);
    values.set(source.values.subarray(from.offset, from.offset + from.length), spec.offset);
  }
  return { manifest: weights.manifest, values };
}

async function maps(
  explainer: Explainer,
  x: tf.Tensor4D,
  classes: readonly number[],
): Promise<Float32Array[]> {
  const cam = explainer.classCam(x, classes);
  const data = (await cam.data()) as Float32Array;
  cam.dispose();
  const pixels = explainer.imageSize * explainer.imageSize;
  return classes.map((_, i) => data.slice(i * pixels, (i + 1) * pixels));
}

/**
 * Cascading randomisation (Adebayo et al. 2018): re-initialise the layers on the classification
 * path one more at a time from the output backwards and compare each map with the trained one by
 * Spearman's ρ. Images whose trained map is flat (no ranks to compare) are left out; a flat
 * randomised map counts as ρ = 0, since it no longer follows the trained one. The trained
 * weights are restored before returning.
 */
export async function cascadingRandomisation(
  explainer: Explainer,
  trained: ModelWeights,
  x: tf.Tensor4D,
  classes: readonly number[],
): Promise<{ steps: SanityStep[]; passed: boolean }> {
  const reference = await maps(explainer, x, classes);
  const usable = reference.map((map) => map.some((v) => v !== map[0]));
  const random = explainer.randomWeights(RANDOMISATION_SEED);
  const steps: SanityStep[] = [];
  const randomised = new Set<string>();
  try {
    for (const layer of explainer.cascade) {
      for (const name of layer.weights) randomised.add(name);
      writeWeights(explainer.model, replaceTensors(trained, random, randomised));
      const after = await maps(explainer, x, classes);
      let sum = 0;
      let images = 0;
      after.forEach((map, i) => {
        if (!usable[i]) return;
        const rho = spearman(reference[i] as Float32Array, map);
        sum += Number.isNaN(rho) ? 0 : rho;
        images++;
      });
      steps.push({ randomisedUpTo: layer.layer, meanSpearman: images > 0 ? sum / images : 0, images });
    }
  } finally {
    writeWeights(explainer.model, trained);
  }
  const final = steps[steps.length - 1];
  const passed =
    final !== undefined && final.images > 0 && Math.abs(final.meanSpearman) < SANITY_MAX_ABS_SPEARMAN;
  return { steps, passed };
}
