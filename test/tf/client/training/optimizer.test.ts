import { beforeAll, describe, expect, it } from "vitest";
import { labelledIndices, planBatches } from "../../../../client/src/training/batches.js";
import { ScheduledOptimizer } from "../../../../client/src/training/optimizer.js";
import type { LoadedBackend } from "../../../../shared/src/ml/tf/backend.js";
import { toyImageSet } from "../../../helpers/synthetic-images.js";
import { expectClose, wasmBackend } from "../../../helpers/training.js";

let tf: LoadedBackend["tf"];
beforeAll(async () => {
  tf = await wasmBackend();
});

describe("scheduled optimiser", () => {
  // f(w) = sum(w^2) / 2 has gradient w.
  const half = (w: import("@tensorflow/tfjs-core").Variable) => () =>
    tf.mul(0.5, tf.sum(tf.square(w))) as import("@tensorflow/tfjs-core").Scalar;

  it("SGD with momentum follows the schedule step by step", () => {
    const w = tf.variable(tf.tensor1d([1, 2]));
    const rates = [0.1, 0.5];
    const optimizer = new ScheduledOptimizer(
      tf,
      { kind: "sgd", momentum: 0.9, learningRate: (s) => rates[s - 3] ?? 0 },
      3,
    );
    // step 3, rate 0.1: accumulator = g = (1, 2); w = (1, 2) - 0.1 (1, 2) = (0.9, 1.8)
    optimizer.minimize(half(w), [w]).dispose();
    expectClose(w.dataSync(), [0.9, 1.8], 6);
    // step 4, rate 0.5: accumulator = 0.9 (1, 2) + (0.9, 1.8) = (1.8, 3.6); w = (0.9, 1.8) - 0.5 (1.8, 3.6) = 0
    optimizer.minimize(half(w), [w]).dispose();
    expectClose(w.dataSync(), [0, 0], 6);
    optimizer.dispose();
    w.dispose();
  });

  it("Adam takes the scheduled rate (0 leaves weights unchanged)", () => {
    const w = tf.variable(tf.tensor1d([1, -2]));
    const optimizer = new ScheduledOptimizer(tf, { kind: "adam", learningRate: (s) => (s === 0 ? 0 : 0.1) });
    optimizer.minimize(half(w), [w]).dispose();
    expect(Array.from(w.dataSync())).toEqual([1, -2]);
    // Adam's first real step moves each weight by about the rate against its gradient's sign.
    optimizer.minimize(half(w), [w]).dispose();
    expectClose(w.dataSync(), [0.9, -1.9], 3);
    optimizer.dispose();
    w.dispose();
  });

  it("applies decoupled weight decay to the listed variables only", () => {
    const decayed = tf.variable(tf.tensor1d([1]));
    const kept = tf.variable(tf.tensor1d([1]));
    const optimizer = new ScheduledOptimizer(tf, {
      kind: "sgd",
      momentum: 0,
      learningRate: 0.1,
      weightDecay: 0.5,
    });
    optimizer
      .minimize(
        () => tf.add(half(decayed)(), half(kept)()) as import("@tensorflow/tfjs-core").Scalar,
        [decayed, kept],
        [decayed],
      )
      .dispose();
    // Both: 1 - 0.1 * 1 = 0.9; the decayed one then times (1 - 0.1 * 0.5) = 0.855.
    expect(decayed.dataSync()[0]).toBeCloseTo(0.855, 6);
    expect(kept.dataSync()[0]).toBeCloseTo(0.9, 6);
    optimizer.dispose();
    tf.dispose([decayed, kept]);
  });

  it("refuses a negative or non-finite rate", () => {
    expect(() => new ScheduledOptimizer(tf, { kind: "adam", learningRate: -1 })).toThrow(/learning rate/);
  });
});

describe("batch planning", () => {
  const indices = Array.from({ length: 10 }, (_, i) => i);

  it("cuts each seeded shuffle into full batches and drops the remainder", () => {
    const batches = planBatches(indices, { batchSize: 4, epochs: 2, seed: 1 });
    expect(batches.map((b) => b.length)).toEqual([4, 4, 4, 4]);
    expect(new Set(batches[0]?.concat(batches[1] ?? [])).size).toBe(8); // no repeats within an epoch
    expect(planBatches(indices, { batchSize: 4, epochs: 2, seed: 1 })).toEqual(batches);
    expect(planBatches(indices, { batchSize: 4, epochs: 2, seed: 2 })).not.toEqual(batches);
    expect(batches[0]).not.toEqual(batches[2]); // each epoch has its own order
  });

  it("caps the steps and uses everything when there is less than a batch", () => {
    expect(planBatches(indices, { batchSize: 2, epochs: 3, maxSteps: 7, seed: 1 })).toHaveLength(7);
    const small = planBatches([4, 5, 6], { batchSize: 8, epochs: 2, seed: 1 });
    expect(small.map((b) => [...b].sort())).toEqual([
      [4, 5, 6],
      [4, 5, 6],
    ]);
    expect(planBatches([], { batchSize: 8, seed: 1 })).toEqual([]);
  });

  it("selects labelled images only", () => {
    const set = toyImageSet({ count: 8, size: 8, seed: 1, unlabelled: 3 });
    expect(labelledIndices(set)).toEqual([3, 4, 5, 6, 7]);
  });
});
