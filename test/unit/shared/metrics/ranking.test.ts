import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../../../shared/src/errors.js";
import { averagePrecision, oneVsRest, rocAuc } from "../../../../shared/src/metrics/index.js";
import { Rng } from "../../../../shared/src/random.js";
import { expectFlError } from "../../../helpers/expect-fl-error.js";

/** AUC by definition: over every (positive, negative) pair, 1 if the positive scores higher, ½ if tied. */
function bruteForceAuc(scores: number[], labels: number[]): number {
  let wins = 0;
  let pairs = 0;
  for (let i = 0; i < scores.length; i++) {
    if (labels[i] !== 1) continue;
    for (let j = 0; j < scores.length; j++) {
      if (labels[j] !== 0) continue;
      pairs++;
      if (scores[i]! > scores[j]!) wins += 1;
      else if (scores[i] === scores[j]) wins += 0.5;
    }
  }
  return pairs === 0 ? Number.NaN : wins / pairs;
}

/** AP by an explicit sweep: for each distinct threshold t (high to low) classify score ≥ t as positive. */
function bruteForceAp(scores: number[], labels: number[]): number {
  const numPositive = labels.filter((l) => l === 1).length;
  if (numPositive === 0) return Number.NaN;
  const thresholds = [...new Set(scores)].sort((a, b) => b - a);
  let previousRecall = 0;
  let ap = 0;
  for (const t of thresholds) {
    let tp = 0;
    let fp = 0;
    for (let i = 0; i < scores.length; i++) {
      if (scores[i]! >= t) {
        if (labels[i] === 1) tp++;
        else fp++;
      }
    }
    const recall = tp / numPositive;
    ap += (recall - previousRecall) * (tp / (tp + fp));
    previousRecall = recall;
  }
  return ap;
}

describe("rocAuc", () => {
  it("matches a hand-worked case without ties", () => {
    // positives 0.35, 0.8; negatives 0.1, 0.4.
    // pairs: 0.35>0.1 yes, 0.35>0.4 no, 0.8>0.1 yes, 0.8>0.4 yes → 3/4.
    expect(rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBeCloseTo(0.75, 12);
  });

  it("counts tied pairs as one half", () => {
    // positives 0.9, 0.5, 0.2; negatives 0.5, 0.5 (P = 3, N = 2, 6 pairs).
    // 0.9 beats both (2); 0.5 ties both (½ + ½ = 1); 0.2 beats none (0) → 3/6.
    // By ranks: ascending 0.2→1, 0.5×3→avg 3, 0.9→5; positive rank sum 5+3+1 = 9;
    // U = 9 − 3·4/2 = 3; 3/6 = 0.5.
    expect(rocAuc([0.9, 0.5, 0.5, 0.5, 0.2], [1, 1, 0, 0, 1])).toBeCloseTo(0.5, 12);
    // Positive 0.5 tied with one negative, beats the other: (1 + ½) / 2 = 0.75.
    expect(rocAuc([0.5, 0.5, 0.1], [true, false, false])).toBeCloseTo(0.75, 12);
  });

  it("is 1 for a perfect ranking, 0 for a reversed one, ½ when everything ties", () => {
    expect(rocAuc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])).toBe(1);
    expect(rocAuc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1])).toBe(0);
    expect(rocAuc([0.3, 0.3, 0.3, 0.3], [1, 0, 0, 1])).toBe(0.5);
  });

  it("orders infinite scores", () => {
    expect(rocAuc([Number.NEGATIVE_INFINITY, 0, Number.POSITIVE_INFINITY], [0, 1, 1])).toBe(1);
  });

  it("is NaN when only one class is present or there are no examples", () => {
    expect(rocAuc([0.2, 0.7], [1, 1])).toBeNaN();
    expect(rocAuc([0.2, 0.7], [false, false])).toBeNaN();
    expect(rocAuc([], [])).toBeNaN();
  });

  it("agrees with pair counting on random scores with ties", () => {
    const rng = new Rng(11);
    for (let trial = 0; trial < 300; trial++) {
      const n = 1 + Math.floor(rng.next() * 60);
      // Scores on a coarse grid so that ties are common.
      const scores = Array.from({ length: n }, () => Math.round(rng.next() * 8) / 8);
      const prevalence = rng.next();
      const labels = Array.from({ length: n }, () => (rng.next() < prevalence ? 1 : 0));
      const expected = bruteForceAuc(scores, labels);
      const actual = rocAuc(Float32Array.from(scores), labels);
      if (Number.isNaN(expected)) expect(actual).toBeNaN();
      else expect(actual).toBeCloseTo(expected, 12);
    }
  });
});

describe("averagePrecision", () => {
  it("matches a hand-worked case without ties", () => {
    // descending: 0.8(+) P=1/1 R=1/2 → ½·1; 0.4(−) adds 0; 0.35(+) P=2/3 R=1 → ½·⅔ = ⅓;
    // 0.1(−) adds 0. AP = ½ + ⅓ = 5/6.
    expect(averagePrecision([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBeCloseTo(5 / 6, 12);
  });

  it("enters tied scores together at one threshold", () => {
    // P = 3. threshold 0.9: tp 1, fp 0 → P=1, ΔR=⅓ → ⅓.
    // threshold 0.5 (one +, two −): tp 2, fp 2 → P=½, ΔR=⅓ → ⅙.
    // threshold 0.2: tp 3, fp 2 → P=⅗, ΔR=⅓ → ⅕.  AP = ⅓ + ⅙ + ⅕ = 21/30 = 0.7.
    expect(averagePrecision([0.9, 0.5, 0.5, 0.5, 0.2], [1, 1, 0, 0, 1])).toBeCloseTo(0.7, 12);
    // One tie group holding everything: P = 2/4 at R = 1 → AP = prevalence = ½.
    expect(averagePrecision([0.3, 0.3, 0.3, 0.3], [1, 0, 0, 1])).toBeCloseTo(0.5, 12);
  });

  it("is 1 for a perfect ranking and the prevalence-weighted precision for a reversed one", () => {
    expect(averagePrecision([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])).toBe(1);
    // descending 0.9(−), 0.1(+): the positive enters at tp 1, fp 1 → AP = 1·½.
    expect(averagePrecision([0.1, 0.9], [1, 0])).toBe(0.5);
    // All positives: precision is 1 everywhere.
    expect(averagePrecision([0.2, 0.7], [1, 1])).toBe(1);
  });

  it("is NaN when there are no positives", () => {
    expect(averagePrecision([0.2, 0.7], [0, 0])).toBeNaN();
    expect(averagePrecision([], [])).toBeNaN();
  });

  it("agrees with an explicit threshold sweep on random scores with ties", () => {
    const rng = new Rng(29);
    for (let trial = 0; trial < 300; trial++) {
      const n = 1 + Math.floor(rng.next() * 60);
      const scores = Array.from({ length: n }, () => Math.round(rng.next() * 8) / 8);
      const prevalence = rng.next();
      const labels = Array.from({ length: n }, () => (rng.next() < prevalence ? 1 : 0));
      const expected = bruteForceAp(scores, labels);
      const actual = averagePrecision(scores, Uint8Array.from(labels));
      if (Number.isNaN(expected)) expect(actual).toBeNaN();
      else expect(actual).toBeCloseTo(expected, 12);
    }
  });
});

describe("binary input checks", () => {
  it.each<[string, number[], Array<number | boolean>, string]>([
    ["mismatched lengths", [0.1, 0.2], [1], "pair up"],
    ["a NaN score", [0.1, Number.NaN], [1, 0], "index 1"],
    ["a label that is not 0/1", [0.1, 0.2], [1, 2], "label at index 1"],
  ])("rejects %s", (_what, scores, labels, fragment) => {
    expectFlError(() => rocAuc(scores, labels), ErrorCode.InvalidArgument, fragment);
    expectFlError(() => averagePrecision(scores, labels), ErrorCode.InvalidArgument, fragment);
  });
});

describe("oneVsRest", () => {
  it("gives per-class values and macro means that skip an absent class", () => {
    // Rows (class 0, 1, 2 scores) and labels; class 2 never occurs.
    // biome-ignore format: one row per line
    const probabilities = Float32Array.from([
      0.7, 0.2, 0.1, // label 0
      0.3, 0.4, 0.3, // label 1
      0.5, 0.3, 0.2, // label 1
      0.2, 0.5, 0.3, // label 0
    ]);
    const result = oneVsRest(probabilities, [0, 1, 1, 0], 3);
    // Class 0: scores .7 .3 .5 .2, positives .7 and .2.
    //   AUC pairs: .7>.3, .7>.5, .2<.3, .2<.5 → 2/4 = ½.
    //   AP: .7(+) P=1 R=½ → ½; .5(−), .3(−); .2(+) P=2/4 R=1 → ½·½ = ¼.  AP = ¾.
    // Class 1: scores .2 .4 .3 .5, positives .4 and .3.
    //   AUC pairs: .4>.2, .4<.5, .3>.2, .3<.5 → 2/4 = ½.
    //   AP: .5(−); .4(+) P=½ R=½ → ¼; .3(+) P=⅔ R=1 → ⅓; .2(−).  AP = 7/12.
    // Class 2: no positives → NaN for both.
    // macroAuc = (½ + ½)/2 = ½; mAP = (¾ + 7/12)/2 = ⅔.
    expect(result.auc[0]).toBeCloseTo(0.5, 6);
    expect(result.auc[1]).toBeCloseTo(0.5, 6);
    expect(result.auc[2]).toBeNaN();
    expect(result.ap[0]).toBeCloseTo(0.75, 6);
    expect(result.ap[1]).toBeCloseTo(7 / 12, 6);
    expect(result.ap[2]).toBeNaN();
    expect(result.macroAuc).toBeCloseTo(0.5, 6);
    expect(result.mAP).toBeCloseTo(2 / 3, 6);
  });

  it("agrees with the binary metrics column by column on random data", () => {
    const rng = new Rng(5);
    const n = 40;
    const k = 4;
    const probabilities = Float32Array.from({ length: n * k }, () => Math.round(rng.next() * 10) / 10);
    const labels = Array.from({ length: n }, () => Math.floor(rng.next() * k));
    const result = oneVsRest(probabilities, labels, k);
    const expectedAuc: number[] = [];
    const expectedAp: number[] = [];
    for (let c = 0; c < k; c++) {
      const column = labels.map((_, i) => probabilities[i * k + c]!);
      const positives = labels.map((label) => (label === c ? 1 : 0));
      expectedAuc.push(bruteForceAuc(column, positives));
      expectedAp.push(bruteForceAp(column, positives));
    }
    for (let c = 0; c < k; c++) {
      expect(result.auc[c]).toBeCloseTo(expectedAuc[c]!, 12);
      expect(result.ap[c]).toBeCloseTo(expectedAp[c]!, 12);
    }
    expect(result.mAP).toBeCloseTo(expectedAp.reduce((a, b) => a + b, 0) / k, 12);
    expect(result.macroAuc).toBeCloseTo(expectedAuc.reduce((a, b) => a + b, 0) / k, 12);
  });

  it("gives NaN macro means when no class is defined", () => {
    const result = oneVsRest(new Float32Array(0), [], 2);
    expect(result.auc).toEqual([Number.NaN, Number.NaN]);
    expect(result.macroAuc).toBeNaN();
    expect(result.mAP).toBeNaN();
  });

  it.each<[string, number, number[], number, string]>([
    ["a score matrix of the wrong size", 5, [0, 1], 2, "rows of 2 classes"],
    ["a label out of range", 4, [0, 2], 2, "label at index 1"],
    ["a fractional label", 4, [0.5, 1], 2, "label at index 0"],
    ["zero classes", 0, [], 0, "positive integer"],
  ])("rejects %s", (_what, size, labels, numClasses, fragment) => {
    expectFlError(
      () => oneVsRest(new Float32Array(size), labels, numClasses),
      ErrorCode.InvalidArgument,
      fragment,
    );
  });
});
