import type { ImageSet } from "../../../shared/src/ml/data/types.js";
import { Rng } from "../../../shared/src/random.js";

/**
 * Keeps only a fraction of a site's labels, per class (so rare classes keep at least one label
 * where they have any); the other images become unlabelled (-1) and still serve
 * self-supervision. Deterministic for a seed, so every round of a run hides the same labels.
 */
export function applyLabelFraction(set: ImageSet, fraction: number, seed: number): ImageSet {
  if (fraction >= 1) return set;
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < set.count; i++) {
    const label = set.labels[i] as number;
    if (label >= 0) byClass.set(label, [...(byClass.get(label) ?? []), i]);
  }
  const labels = new Int32Array(set.count).fill(-1);
  for (const [label, indices] of byClass) {
    const keep = Math.max(1, Math.ceil(fraction * indices.length));
    for (const index of Rng.derive(seed, label)
      .shuffle([...indices])
      .slice(0, keep))
      labels[index] = label;
  }
  return { ...set, labels };
}
