import { Rng } from "../../../shared/src/random.js";

/** Test data: n images of k classes with softmax probabilities that lean towards the true class. */
export interface Synthetic {
  readonly probabilities: Float32Array;
  readonly labels: Int32Array;
  readonly numClasses: number;
}

export function softmax(logits: readonly number[]): number[] {
  const max = Math.max(...logits);
  const exps = logits.map((z) => Math.exp(z - max));
  const total = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / total);
}

/**
 * `signal` scales how much the true class's logit is raised (0: chance); `tieShare` of the rows
 * are copied from a small pool of rows, so that scores tie exactly.
 */
export function synthetic(
  n: number,
  numClasses: number,
  seed: number,
  options: { signal?: number; tieShare?: number } = {},
): Synthetic {
  const rng = new Rng(seed);
  const signal = options.signal ?? 1.5;
  const tieShare = options.tieShare ?? 0;
  const probabilities = new Float32Array(n * numClasses);
  const labels = new Int32Array(n);
  const pool: number[][][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < n; i++) {
    const label = rng.int(numClasses);
    labels[i] = label;
    const shared = pool[label] as number[][];
    let row: number[];
    if (shared.length >= 5 && rng.bool(tieShare)) row = rng.pick(shared);
    else {
      row = softmax(Array.from({ length: numClasses }, (_, c) => rng.normal() + (c === label ? signal : 0)));
      if (shared.length < 5) shared.push(row);
    }
    probabilities.set(row, i * numClasses);
  }
  return { probabilities, labels, numClasses };
}
