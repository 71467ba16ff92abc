import { expect, it } from "vitest";
import { applyLabelFraction } from "../../../../client/src/training/label-fraction.js";
import type { ImageSet } from "../../../../shared/src/ml/data/types.js";

function setWithLabels(labels: number[]): ImageSet {
  return {
    size: 1,
    count: labels.length,
    images: new Float32Array(labels.length),
    labels: Int32Array.from(labels),
    masks: new Uint8Array(labels.length),
    imageIds: [],
    studyIds: [],
    patientIds: [],
  };
}

it("keeps ceil(fraction × n) labels per class, at least one, and hides the rest", () => {
  // class 0: 20 images → 2 kept at 10 %; class 1: 5 → ceil(0.5) = 1; class 2: 1 → 1; unlabelled stays unlabelled
  const labels = [...new Array(20).fill(0), ...new Array(5).fill(1), 2, -1, -1];
  const out = applyLabelFraction(setWithLabels(labels), 0.1, 42);
  const count = (c: number) => Array.from(out.labels).filter((l) => l === c).length;
  expect([count(0), count(1), count(2), count(-1)]).toEqual([2, 1, 1, 20 - 2 + 5 - 1 + 2]);
  // kept labels are the original ones
  for (const [i, l] of out.labels.entries()) if (l >= 0) expect(l).toBe(labels[i]);
});

it("is deterministic for a seed, differs across seeds, and is the identity at 100 %", () => {
  const labels = Array.from({ length: 60 }, (_, i) => i % 3);
  const a = applyLabelFraction(setWithLabels(labels), 0.25, 1).labels;
  expect(Array.from(applyLabelFraction(setWithLabels(labels), 0.25, 1).labels)).toEqual(Array.from(a));
  expect(Array.from(applyLabelFraction(setWithLabels(labels), 0.25, 2).labels)).not.toEqual(Array.from(a));
  const full = setWithLabels(labels);
  expect(applyLabelFraction(full, 1, 1)).toBe(full);
});
