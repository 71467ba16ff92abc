import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../../../shared/src/errors.js";
import {
  argmaxRows,
  classificationReport,
  confusionMatrix,
  sumConfusions,
  weightedAverage,
} from "../../../../shared/src/metrics/index.js";
import { expectFlError } from "../../../helpers/expect-fl-error.js";

describe("confusionMatrix", () => {
  it("counts true classes in rows and predictions in columns", () => {
    const yTrue = [0, 0, 0, 1, 1, 2, 2, 2, 2];
    const yPred = [0, 1, 0, 1, 1, 2, 0, 2, 2];
    expect(confusionMatrix(yTrue, yPred, 3)).toEqual([
      [2, 1, 0],
      [0, 2, 0],
      [1, 0, 3],
    ]);
  });

  it("accepts typed arrays and gives zeros for no examples", () => {
    expect(confusionMatrix(new Int32Array([1]), new Int32Array([0]), 2)).toEqual([
      [0, 0],
      [1, 0],
    ]);
    expect(confusionMatrix([], [], 2)).toEqual([
      [0, 0],
      [0, 0],
    ]);
  });

  it.each<[string, number[], number[], number, string]>([
    ["mismatched lengths", [0, 1], [0], 2, "pair up"],
    ["a label out of range", [0, 2], [0, 1], 2, "index 1"],
    ["a negative prediction", [0, 1], [0, -1], 2, "prediction at index 1"],
    ["a fractional label", [0.5], [0], 2, "true label at index 0"],
    ["zero classes", [], [], 0, "positive integer"],
  ])("rejects %s", (_what, yTrue, yPred, numClasses, fragment) => {
    expectFlError(() => confusionMatrix(yTrue, yPred, numClasses), ErrorCode.InvalidArgument, fragment);
  });
});

describe("classificationReport", () => {
  it("matches the hand computation on a 3-class matrix", () => {
    // rows (support) 3, 2, 4; columns (predicted) 3, 3, 3; 7 correct of 9.
    const report = classificationReport(
      [
        [2, 1, 0],
        [0, 2, 0],
        [1, 0, 3],
      ],
      ["negative", "typical", "atypical"],
    );
    expect(report.count).toBe(9);
    expect(report.accuracy).toBeCloseTo(7 / 9, 12);
    const [c0, c1, c2] = report.perClass;
    expect(c0).toMatchObject({ name: "negative", support: 3 });
    expect(c0?.precision).toBeCloseTo(2 / 3, 12);
    expect(c0?.recall).toBeCloseTo(2 / 3, 12);
    expect(c0?.f1).toBeCloseTo(2 / 3, 12);
    expect(c1?.precision).toBeCloseTo(2 / 3, 12);
    expect(c1?.recall).toBe(1);
    expect(c1?.f1).toBeCloseTo(4 / 5, 12);
    expect(c2?.precision).toBe(1);
    expect(c2?.recall).toBeCloseTo(3 / 4, 12);
    expect(c2?.f1).toBeCloseTo(6 / 7, 12);
    expect(report.macroF1).toBeCloseTo(244 / 315, 12); // (2/3 + 4/5 + 6/7) / 3
  });

  it("gives 0 for 0/0 (zero_division=0) and counts every class in the macro average", () => {
    // yTrue = [0,0,1,1,2], yPred = [0,1,1,1,0]; class 2 is never predicted, class 3 never occurs.
    const confusion = confusionMatrix([0, 0, 1, 1, 2], [0, 1, 1, 1, 0], 4);
    expect(confusion).toEqual([
      [1, 1, 0, 0],
      [0, 2, 0, 0],
      [1, 0, 0, 0],
      [0, 0, 0, 0],
    ]);
    const report = classificationReport(confusion);
    expect(report.perClass.map((c) => c.name)).toEqual(["0", "1", "2", "3"]);
    expect(report.accuracy).toBeCloseTo(3 / 5, 12);
    expect(report.perClass[0]).toMatchObject({ precision: 0.5, recall: 0.5, f1: 0.5, support: 2 });
    expect(report.perClass[1]?.precision).toBeCloseTo(2 / 3, 12);
    expect(report.perClass[1]?.f1).toBeCloseTo(0.8, 12);
    expect(report.perClass[2]).toEqual({ name: "2", precision: 0, recall: 0, f1: 0, support: 1 });
    expect(report.perClass[3]).toEqual({ name: "3", precision: 0, recall: 0, f1: 0, support: 0 });
    // scikit-learn: f1_score(..., labels=[0,1,2,3], average="macro", zero_division=0) = 0.325
    expect(report.macroF1).toBeCloseTo(0.325, 12);
  });

  it("reports zeros for an empty matrix", () => {
    const report = classificationReport([
      [0, 0],
      [0, 0],
    ]);
    expect(report.count).toBe(0);
    expect(report.accuracy).toBe(0);
    expect(report.macroF1).toBe(0);
  });

  it("copies the confusion matrix", () => {
    const confusion = [
      [1, 0],
      [0, 1],
    ];
    const report = classificationReport(confusion);
    (confusion[0] as number[])[0] = 50;
    expect(report.confusion[0]).toEqual([1, 0]);
  });

  it.each<[string, number[][], string]>([
    ["an empty matrix", [], "non-empty"],
    ["a non-square matrix", [[1, 2]], "not square"],
    [
      "a negative count",
      [
        [1, -1],
        [0, 1],
      ],
      "[0][1]",
    ],
    ["a NaN count", [[Number.NaN]], "[0][0]"],
  ])("rejects %s", (_what, confusion, fragment) => {
    expectFlError(() => classificationReport(confusion), ErrorCode.InvalidArgument, fragment);
  });

  it("rejects the wrong number of class names", () => {
    expectFlError(() => classificationReport([[1]], ["a", "b"]), ErrorCode.InvalidArgument, "2 class names");
  });
});

describe("sumConfusions", () => {
  it("pools sites: the summed matrix equals the matrix of all examples together", () => {
    const siteA = { yTrue: [0, 1, 2, 2], yPred: [0, 2, 2, 1] };
    const siteB = { yTrue: [1, 1, 0], yPred: [1, 0, 0] };
    const pooled = sumConfusions([
      confusionMatrix(siteA.yTrue, siteA.yPred, 3),
      confusionMatrix(siteB.yTrue, siteB.yPred, 3),
    ]);
    expect(pooled).toEqual(
      confusionMatrix([...siteA.yTrue, ...siteB.yTrue], [...siteA.yPred, ...siteB.yPred], 3),
    );
    expect(pooled).toEqual([
      [2, 0, 0],
      [1, 1, 1],
      [0, 1, 1],
    ]);
    expect(classificationReport(pooled).accuracy).toBeCloseTo(4 / 7, 12);
  });

  it("does not modify its inputs", () => {
    const a = [[1]];
    sumConfusions([a, [[2]]]);
    expect(a).toEqual([[1]]);
  });

  it("rejects an empty list and matrices of different sizes", () => {
    expectFlError(() => sumConfusions([]), ErrorCode.InvalidArgument, "empty");
    expectFlError(
      () =>
        sumConfusions([
          [[1]],
          [
            [1, 0],
            [0, 1],
          ],
        ]),
      ErrorCode.InvalidArgument,
      "matrix 1",
    );
  });
});

describe("argmaxRows", () => {
  it("picks the largest column of each row, the first on ties", () => {
    const probabilities = new Float32Array([0.1, 0.7, 0.2, 0.5, 0.5, 0, 0.2, 0.2, 0.6, -1, -3, -2]);
    expect(Array.from(argmaxRows(probabilities, 3))).toEqual([1, 0, 2, 0]);
  });

  it("never picks a NaN over a number", () => {
    expect(
      Array.from(argmaxRows(new Float32Array([Number.NaN, 0.2, 0.8, 0.1, Number.NaN, 0.05]), 3)),
    ).toEqual([2, 0]);
  });

  it("handles no rows and one class", () => {
    expect(argmaxRows(new Float32Array(0), 4)).toHaveLength(0);
    expect(Array.from(argmaxRows(new Float32Array([0.3, 0.9]), 1))).toEqual([0, 0]);
  });

  it("rejects a length that is not a whole number of rows", () => {
    expectFlError(
      () => argmaxRows(new Float32Array(7), 3),
      ErrorCode.InvalidArgument,
      "7 values",
      "3 classes",
    );
  });
});

describe("weightedAverage", () => {
  it("weights each metric by example count over the items that report it", () => {
    const average = weightedAverage([
      { weight: 10, metrics: { accuracy: 0.5, loss: 2 } },
      { weight: 30, metrics: { accuracy: 0.9, auc: 0.8 } },
    ]);
    // accuracy = (10*0.5 + 30*0.9) / 40 = 0.8; loss and auc come from one item each.
    expect(average.accuracy).toBeCloseTo(0.8, 12);
    expect(average.loss).toBe(2);
    expect(average.auc).toBeCloseTo(0.8, 12);
    expect(Object.keys(average)).toEqual(["accuracy", "auc", "loss"]);
  });

  it("skips non-finite values (a site whose AUC is undefined) and omits metrics nobody reports", () => {
    const average = weightedAverage([
      { weight: 10, metrics: { auc: Number.NaN, ece: Number.NaN } },
      { weight: 30, metrics: { auc: 0.7 } },
    ]);
    expect(average).toEqual({ auc: 0.7 });
  });

  it("returns an empty object for no items", () => {
    expect(weightedAverage([])).toEqual({});
  });

  it.each([0, -5, Number.NaN])("rejects weight %s", (weight) => {
    expectFlError(
      () => weightedAverage([{ weight, metrics: { a: 1 } }]),
      ErrorCode.InvalidArgument,
      "weight",
    );
  });
});
