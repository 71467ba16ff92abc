import { describe, expect, it } from "vitest";
import { WeightedMeanAccumulator, weightedMean } from "../../../../shared/src/aggregation/index.js";
import { ErrorCode } from "../../../../shared/src/errors.js";
import { expectFlError } from "../../../helpers/expect-fl-error.js";

function expectClose(actual: Float32Array, expected: number[], tolerance = 1e-6): void {
  expect(actual).toHaveLength(expected.length);
  expected.forEach((value, i) => {
    expect(Math.abs((actual[i] as number) - value)).toBeLessThanOrEqual(
      tolerance * Math.max(1, Math.abs(value)),
    );
  });
}

/** xorshift32 in [-1, 1): reproducible test vectors. */
function randomVector(seed: number, length: number): Float32Array {
  let state = seed >>> 0 || 1;
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    out[i] = state / 2 ** 31 - 1;
  }
  return out;
}

// Three clients with 10, 30 and 60 examples: FedAvg weights 0.1, 0.3, 0.6.
const clients = [
  { values: new Float32Array([1, 2, 3, 4]), weight: 10 },
  { values: new Float32Array([0, -1, 2, 8]), weight: 30 },
  { values: new Float32Array([0.5, 1, -1, 2]), weight: 60 },
];
// By hand: [0.1*1 + 0.3*0 + 0.6*0.5, 0.1*2 - 0.3*1 + 0.6*1, 0.1*3 + 0.3*2 - 0.6*1, 0.1*4 + 0.3*8 + 0.6*2]
const fedAvg = [0.4, 0.5, 0.3, 4.0];

describe("weightedMean", () => {
  it("computes the hand-worked FedAvg of three clients", () => {
    expectClose(weightedMean(clients), fedAvg);
  });

  it("depends only on relative weights", () => {
    const scaled = clients.map((c) => ({ values: c.values, weight: c.weight / 10 }));
    expectClose(weightedMean(scaled), fedAvg);
  });

  it("is the plain mean for equal weights and the input itself for one client", () => {
    const equal = clients.map((c) => ({ values: c.values, weight: 7 }));
    expectClose(weightedMean(equal), [1.5 / 3, 2 / 3, 4 / 3, 14 / 3]);
    expect(Array.from(weightedMean([{ values: new Float32Array([0.1, -3.7]), weight: 5 }]))).toEqual([
      Math.fround(0.1),
      Math.fround(-3.7),
    ]);
  });

  it("refuses an empty list", () => {
    expectFlError(() => weightedMean([]), ErrorCode.FailedPrecondition, "no update");
  });
});

describe("WeightedMeanAccumulator", () => {
  it("matches the one-shot mean and reports count and total weight", () => {
    const accumulator = new WeightedMeanAccumulator(4);
    for (const c of clients) accumulator.add(c.values, c.weight);
    expect(accumulator.count).toBe(3);
    expect(accumulator.totalWeight).toBe(100);
    expectClose(accumulator.mean(), fedAvg);
    expect(accumulator.mean()).toEqual(weightedMean(clients));
  });

  it("gives the same mean in every arrival order", () => {
    const updates = [1, 2, 3, 4, 5].map((seed, i) => ({
      values: randomVector(seed, 512),
      weight: [13, 250, 1, 77, 9][i] as number,
    }));
    const permutations = [
      [0, 1, 2, 3, 4],
      [4, 3, 2, 1, 0],
      [2, 0, 4, 1, 3],
      [1, 4, 0, 3, 2],
    ];
    // Reference: the weighted mean in plain float64 arithmetic, element by element.
    const total = updates.reduce((s, u) => s + u.weight, 0);
    const reference = Array.from(
      { length: 512 },
      (_, i) => updates.reduce((s, u) => s + u.weight * (u.values[i] as number), 0) / total,
    );
    for (const order of permutations) {
      const accumulator = new WeightedMeanAccumulator(512);
      for (const index of order) {
        const u = updates[index];
        if (u) accumulator.add(u.values, u.weight);
      }
      expectClose(accumulator.mean(), reference, 1e-6);
    }
  });

  it("accumulates in float64: a thousand equal updates of 0.1 average to float32(0.1) exactly", () => {
    const accumulator = new WeightedMeanAccumulator(1);
    const value = new Float32Array([0.1]);
    for (let i = 0; i < 1000; i++) accumulator.add(value, 1);
    expect(accumulator.mean()[0]).toBe(Math.fround(0.1));
  });

  it("does not keep a reference to added vectors", () => {
    const accumulator = new WeightedMeanAccumulator(2);
    const values = new Float32Array([1, 2]);
    accumulator.add(values, 1);
    values.fill(100);
    expect(Array.from(accumulator.mean())).toEqual([1, 2]);
  });

  it("can take the mean, add more, and take it again", () => {
    const accumulator = new WeightedMeanAccumulator(1);
    accumulator.add(new Float32Array([2]), 1);
    expect(accumulator.mean()[0]).toBe(2);
    accumulator.add(new Float32Array([5]), 2);
    expect(accumulator.mean()[0]).toBe(4);
  });

  it("refuses a vector of the wrong length", () => {
    const accumulator = new WeightedMeanAccumulator(4);
    expectFlError(() => accumulator.add(new Float32Array(3), 1), ErrorCode.InvalidArgument, "3 values", "4");
    expect(accumulator.count).toBe(0);
  });

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY])(
    "refuses weight %s and keeps its state",
    (weight) => {
      const accumulator = new WeightedMeanAccumulator(1);
      accumulator.add(new Float32Array([3]), 1);
      expectFlError(
        () => accumulator.add(new Float32Array([100]), weight),
        ErrorCode.InvalidArgument,
        "weight",
      );
      expect(accumulator.count).toBe(1);
      expect(accumulator.mean()[0]).toBe(3);
    },
  );

  it("refuses to take the mean of nothing, and a bad length", () => {
    expectFlError(() => new WeightedMeanAccumulator(3).mean(), ErrorCode.FailedPrecondition, "no update");
    expectFlError(() => new WeightedMeanAccumulator(-1), ErrorCode.InvalidArgument, "length");
    expectFlError(() => new WeightedMeanAccumulator(1.5), ErrorCode.InvalidArgument, "length");
  });

  it("handles zero-length vectors (a model with no shared tensors)", () => {
    const accumulator = new WeightedMeanAccumulator(0);
    accumulator.add(new Float32Array(0), 5);
    expect(accumulator.mean()).toHaveLength(0);
  });
});
