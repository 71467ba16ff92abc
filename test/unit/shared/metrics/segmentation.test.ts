import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../../../shared/src/errors.js";
import {
  diceScore,
  iouScore,
  SegmentationAccumulator,
  summarizeSegmentation,
} from "../../../../shared/src/metrics/index.js";
import { expectFlError } from "../../../helpers/expect-fl-error.js";

// Image A: predicted at 0.5 → pixels {0, 1, 4}; truth → {0, 2, 4}; intersection {0, 4}.
const predA = [0.9, 0.6, 0.4, 0.1, 0.7, 0.2];
const truthA = [1, 0, 1, 0, 1, 0];
// Image C: everything predicted, one true pixel.
const predC = [1, 1, 1, 1];
const truthC = [0, 0, 0, 1];

describe("diceScore and iouScore", () => {
  it("match hand-computed overlaps", () => {
    // |P| = 3, |T| = 3, |P∩T| = 2 → Dice = 4/6, IoU = 2/(3 + 3 − 2) = 2/4.
    expect(diceScore(predA, truthA)).toBeCloseTo(2 / 3, 12);
    expect(iouScore(predA, truthA)).toBeCloseTo(0.5, 12);
    // Threshold 0.3 adds pixel 2: |P| = 4, |P∩T| = 3 → Dice = 6/7, IoU = 3/4.
    expect(diceScore(Float32Array.from(predA), Uint8Array.from(truthA), 0.3)).toBeCloseTo(6 / 7, 6);
    expect(iouScore(predA, truthA, 0.3)).toBeCloseTo(0.75, 12);
    // |P| = 4, |T| = 1, |P∩T| = 1 → Dice = 2/5, IoU = 1/4.
    expect(diceScore(predC, truthC)).toBeCloseTo(0.4, 12);
    expect(iouScore(predC, truthC)).toBeCloseTo(0.25, 12);
  });

  it("counts a prediction equal to the threshold as foreground", () => {
    expect(diceScore([0.5, 0.49], [1, 0])).toBe(1);
    expect(diceScore([0.5, 0.49], [1, 0], 0.51)).toBe(0);
  });

  it("scores two empty masks as a perfect 1 and a miss as 0", () => {
    expect(diceScore([0.1, 0.2], [0, 0])).toBe(1);
    expect(iouScore([0.1, 0.2], [0, 0])).toBe(1);
    expect(diceScore([], [])).toBe(1);
    expect(diceScore([0.1, 0.2], [0, 1])).toBe(0);
    expect(iouScore([0.9, 0.2], [0, 0])).toBe(0);
  });

  it.each<[string, () => unknown, string]>([
    ["masks of different sizes", () => diceScore([0.1], [0, 1]), "same shape"],
    ["a NaN pixel", () => iouScore([0.1, Number.NaN], [0, 1]), "pixel 1"],
    ["a NaN threshold", () => diceScore([0.1], [0], Number.NaN), "threshold"],
    ["a bad threshold for the accumulator", () => new SegmentationAccumulator(Number.NaN), "threshold"],
  ])("rejects %s", (_what, fn, fragment) => {
    expectFlError(fn, ErrorCode.InvalidArgument, fragment);
  });
});

describe("SegmentationAccumulator", () => {
  it("reports mean per-image and pooled Dice and IoU", () => {
    const accumulator = new SegmentationAccumulator();
    accumulator.add(predA, truthA); // Dice 2/3, IoU 1/2; I 2, P 3, T 3
    accumulator.add([0, 0.3], [0, 0]); // both empty: Dice 1, IoU 1; I 0, P 0, T 0
    accumulator.add(predC, truthC); // Dice 2/5, IoU 1/4; I 1, P 4, T 1
    const summary = accumulator.summary();
    expect(summary.images).toBe(3);
    // (2/3 + 1 + 2/5) / 3 = (10 + 15 + 6) / 45 = 31/45.
    expect(summary.meanDice).toBeCloseTo(31 / 45, 12);
    // (1/2 + 1 + 1/4) / 3 = 7/12.
    expect(summary.meanIou).toBeCloseTo(7 / 12, 12);
    // Pooled: I 3, P 7, T 4 → Dice 6/11; union 7 + 4 − 3 = 8 → IoU 3/8.
    expect(summary.globalDice).toBeCloseTo(6 / 11, 12);
    expect(summary.globalIou).toBeCloseTo(3 / 8, 12);
    expect(accumulator.counts()).toEqual({
      images: 3,
      diceSum: expect.closeTo(31 / 15, 12),
      iouSum: expect.closeTo(7 / 4, 12),
      intersection: 3,
      predicted: 7,
      actual: 4,
    });
  });

  it("applies its threshold to every image", () => {
    const accumulator = new SegmentationAccumulator(0.3);
    accumulator.add(predA, truthA);
    expect(accumulator.summary().meanDice).toBeCloseTo(6 / 7, 12);
  });

  it("pools counts from several sites as if all images were added to one", () => {
    const siteOne = new SegmentationAccumulator();
    siteOne.add(predA, truthA);
    siteOne.add([0, 0.3], [0, 0]);
    const siteTwo = new SegmentationAccumulator();
    siteTwo.add(predC, truthC);
    const pooled = new SegmentationAccumulator();
    pooled.merge(siteOne.counts());
    pooled.merge(siteTwo.counts());
    expect(pooled.summary().globalDice).toBeCloseTo(6 / 11, 12);
    expect(pooled.summary().meanDice).toBeCloseTo(31 / 45, 12);
    expect(summarizeSegmentation(pooled.counts())).toEqual(pooled.summary());
  });

  it("reports NaN before any image and 1 when every mask is empty", () => {
    const accumulator = new SegmentationAccumulator();
    const empty = accumulator.summary();
    expect(empty.images).toBe(0);
    expect(empty.meanDice).toBeNaN();
    expect(empty.globalDice).toBeNaN();
    accumulator.add([0.1], [0]);
    expect(accumulator.summary()).toEqual({
      images: 1,
      meanDice: 1,
      meanIou: 1,
      globalDice: 1,
      globalIou: 1,
    });
  });

  it("refuses counts that are negative or not finite", () => {
    const accumulator = new SegmentationAccumulator();
    const good = { images: 1, diceSum: 1, iouSum: 1, intersection: 0, predicted: 0, actual: 0 };
    expectFlError(
      () => accumulator.merge({ ...good, predicted: -1 }),
      ErrorCode.InvalidArgument,
      '"predicted"',
    );
    expectFlError(
      () => accumulator.merge({ ...good, diceSum: Number.POSITIVE_INFINITY }),
      ErrorCode.InvalidArgument,
      '"diceSum"',
    );
    const { actual: _, ...missing } = good;
    expectFlError(
      () => accumulator.merge(missing as unknown as typeof good),
      ErrorCode.InvalidArgument,
      '"actual" is undefined',
    );
    expect(accumulator.counts().images).toBe(0);
  });
});
