import { beforeAll, describe, expect, it } from "vitest";
import {
  binaryCrossEntropyWithLogits,
  focalLoss,
  infoNce,
  maskedReconstructionLoss,
  softDiceLoss,
  weightedCrossEntropy,
} from "../../../../client/src/training/losses.js";
import { initBackend, type LoadedBackend } from "../../../../shared/src/ml/tf/backend.js";

let tf: LoadedBackend["tf"];
beforeAll(async () => {
  tf = (await initBackend({ prefer: "wasm", log: () => {} })).tf;
});

const value = (t: { dataSync(): ArrayLike<number>; dispose(): void }) => {
  const v = t.dataSync()[0] as number;
  t.dispose();
  return v;
};

describe("InfoNCE", () => {
  // Two queries, their positive keys, and a queue of two unit negatives n1 = (0, 1), n2 = (-1, 0),
  // temperature 0.5:
  //   q1 = (1, 0), k1 = (1, 0): logits (q1.k1, q1.n1, q1.n2) / T = (1, 0, -1) / 0.5 = (2, 0, -2)
  //     loss1 = log(e^2 + e^0 + e^-2) - 2 = log(8.524391) - 2 = 0.142931
  //   q2 = (0, 1), k2 = (0.6, 0.8): logits (0.8, 1, 0) / 0.5 = (1.6, 2, 0)
  //     loss2 = log(e^1.6 + e^2 + 1) - 1.6 = log(13.342088) - 1.6 = 0.990923
  //   mean = 0.566927; q1's positive is its largest logit, q2's is not: accuracy 1/2.
  const loss1 = Math.log(Math.exp(2) + 1 + Math.exp(-2)) - 2;
  const loss2 = Math.log(Math.exp(1.6) + Math.exp(2) + 1) - 1.6;

  it("matches the hand computation", () => {
    expect((loss1 + loss2) / 2).toBeCloseTo(0.566927, 5);
    const result = tf.tidy(() =>
      infoNce(
        tf.tensor2d([
          [1, 0],
          [0, 1],
        ]),
        tf.tensor2d([
          [1, 0],
          [0.6, 0.8],
        ]),
        tf.tensor2d([
          [0, 1],
          [-1, 0],
        ]),
        0.5,
      ),
    );
    expect(value(result.loss)).toBeCloseTo((loss1 + loss2) / 2, 5);
    expect(value(result.accuracy)).toBe(0.5);
  });

  it("normalises queries and keys itself", () => {
    const loss = tf.tidy(
      () =>
        infoNce(
          tf.tensor2d([[3, 0]]),
          tf.tensor2d([[0.5, 0]]),
          tf.tensor2d([
            [0, 1],
            [-1, 0],
          ]),
          0.5,
        ).loss,
    );
    expect(value(loss)).toBeCloseTo(loss1, 5);
  });

  it("is 0 with an empty queue (only the positive)", () => {
    const loss = tf.tidy(
      () => infoNce(tf.tensor2d([[1, 0]]), tf.tensor2d([[0, 1]]), tf.zeros([0, 2]), 0.2).loss,
    );
    expect(value(loss)).toBeCloseTo(0, 6);
  });
});

describe("classification losses", () => {
  // Logits (0, ln 3): p = (1/4, 3/4). -log p = (ln 4, ln 4/3) = (1.386294, 0.287682).
  const logits = () =>
    tf.tensor2d([
      [0, Math.log(3)],
      [0, Math.log(3)],
    ]);
  const labels = () => tf.tensor1d([0, 1], "int32");

  it("weighted cross-entropy is the mean of w[y] * -log p(y)", () => {
    expect(value(tf.tidy(() => weightedCrossEntropy(logits(), labels())))).toBeCloseTo(
      (Math.log(4) + Math.log(4 / 3)) / 2,
      5,
    );
    // weights (2, 1): (2 ln 4 + ln 4/3) / 2 = 1.530135
    expect(value(tf.tidy(() => weightedCrossEntropy(logits(), labels(), [2, 1])))).toBeCloseTo(1.530135, 5);
  });

  it("focal loss down-weights easy examples by (1 - p)^gamma", () => {
    // gamma 2: ((3/4)^2 ln 4 + (1/4)^2 ln 4/3) / 2 = (0.779791 + 0.017980) / 2 = 0.398886
    expect(value(tf.tidy(() => focalLoss(logits(), labels(), { gamma: 2 })))).toBeCloseTo(0.398886, 5);
    expect(
      value(tf.tidy(() => focalLoss(logits(), labels(), { gamma: 0, classWeights: [2, 1] }))),
    ).toBeCloseTo(1.530135, 5);
  });
});

describe("segmentation losses", () => {
  it("BCE on logits is the mean of -[z log s(x) + (1 - z) log(1 - s(x))], stable for large logits", () => {
    // (ln 2 + ln(1 + e^2) + ln(1 + e^-1)) / 3 = (0.693147 + 2.126928 + 0.313262) / 3 = 1.044446
    const bce = tf.tidy(() => binaryCrossEntropyWithLogits(tf.tensor1d([0, 2, -1]), tf.tensor1d([1, 0, 0])));
    expect(value(bce)).toBeCloseTo(1.044446, 5);
    const extreme = tf.tidy(() =>
      binaryCrossEntropyWithLogits(tf.tensor1d([100, -100]), tf.tensor1d([0, 0])),
    );
    expect(value(extreme)).toBeCloseTo(50, 4); // (100 + 0) / 2, not Infinity
  });

  it("soft Dice pools the batch: 1 - (2 sum(pg) + 1) / (sum p + sum g + 1)", () => {
    // p = (0.5, 0.75, 0.25), g = (1, 1, 0): sum pg = 1.25, sum p = 1.5, sum g = 2 -> 1 - 3.5 / 4.5
    const dice = tf.tidy(() =>
      softDiceLoss(tf.tensor1d([0, Math.log(3), -Math.log(3)]), tf.tensor1d([1, 1, 0])),
    );
    expect(value(dice)).toBeCloseTo(1 - 3.5 / 4.5, 5);
    // All-empty masks and confident negatives: loss near 0 rather than undefined.
    const empty = tf.tidy(() => softDiceLoss(tf.fill([4], -20), tf.zeros([4])));
    expect(value(empty)).toBeCloseTo(0, 5);
  });

  it("masked reconstruction error counts only hidden pixels, normalised by their number", () => {
    const run = (kind: "l1" | "l2", mask: number[]) =>
      value(
        tf.tidy(() =>
          maskedReconstructionLoss(
            tf.tensor1d([1, 2, 3, 4]),
            tf.tensor1d([1, 1, 1, 1]),
            tf.tensor1d(mask),
            kind,
          ),
        ),
      );
    expect(run("l1", [0, 1, 0, 1])).toBeCloseTo((1 + 3) / 2, 6);
    expect(run("l2", [0, 1, 0, 1])).toBeCloseTo((1 + 9) / 2, 6);
    expect(run("l1", [0, 0, 0, 0])).toBe(0);
  });
});
