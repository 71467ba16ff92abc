import { beforeAll, expect, it } from "vitest";
import { ScheduledOptimizer } from "../../../../client/src/training/optimizer.js";
import { initBackend, type LoadedBackend } from "../../../../shared/src/ml/tf/backend.js";

let backend: LoadedBackend;
beforeAll(async () => {
  backend = await initBackend({ prefer: "wasm", log: () => {} });
});

it("adds the FedProx pull towards the round's starting weights (hand-computed SGD steps)", () => {
  const { tf } = backend;
  const w = tf.variable(tf.tensor1d([2, -1]));
  // loss = Σw has gradient 1; FedProx adds μ(w − w0). SGD without momentum, lr 0.1, μ = 1:
  //   step 1: w = w0 − 0.1·(1 + 0)            = w0 − 0.1
  //   step 2: w = w1 − 0.1·(1 + (w1 − w0))    = w1 − 0.1·0.9 = w0 − 0.19
  const optimizer = new ScheduledOptimizer(tf, {
    kind: "sgd",
    learningRate: 0.1,
    momentum: 0,
    proximalMu: 1,
  });
  const before = tf.memory().numTensors;
  for (let step = 0; step < 2; step++) tf.dispose(optimizer.minimize(() => tf.sum(w), [w]));
  const values = Array.from(w.dataSync());
  expect(values[0]).toBeCloseTo(2 - 0.19, 6);
  expect(values[1]).toBeCloseTo(-1 - 0.19, 6);
  optimizer.dispose();
  expect(tf.memory().numTensors).toBeLessThanOrEqual(before);
  w.dispose();
});

it("without μ, the same steps are plain SGD", () => {
  const { tf } = backend;
  const w = tf.variable(tf.tensor1d([2]));
  const optimizer = new ScheduledOptimizer(tf, { kind: "sgd", learningRate: 0.1, momentum: 0 });
  for (let step = 0; step < 2; step++) tf.dispose(optimizer.minimize(() => tf.sum(w), [w]));
  expect(w.dataSync()[0]).toBeCloseTo(2 - 0.2, 6);
  optimizer.dispose();
  w.dispose();
});
