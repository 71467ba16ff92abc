import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
// tfjs-core's Node bundle registers no gradients; tfjs-layers' bundle registers all of them.
import "@tensorflow/tfjs-layers";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { fedProxPenalty, snapshotValues } from "../../../../client/src/training/fedprox.js";
import { ErrorCode } from "../../../../shared/src/errors.js";
import { expectFlError } from "../../../helpers/expect-fl-error.js";

// Two variables and their global values:
//   w1 = [[1, 2], [3, 4]], g1 = [[0.5, 2], [4, 3]] → w1 − g1 = [[0.5, 0], [−1, 1]], Σ² = 2.25
//   w2 = [−1, 0, 2],       g2 = [1, 0, 1.5]       → w2 − g2 = [−2, 0, 0.5],        Σ² = 4.25
// With μ = 0.2: penalty = 0.2/2 · 6.5 = 0.65; gradient μ(w − g) = [[0.1, 0], [−0.2, 0.2]] and
// [−0.4, 0, 0.1].
const mu = 0.2;
const created: tf.Tensor[] = [];

function setUp() {
  const w1 = tf.variable(
    tf.tensor2d([
      [1, 2],
      [3, 4],
    ]),
    true,
    "conv/kernel",
  );
  const w2 = tf.variable(tf.tensor1d([-1, 0, 2]), true, "dense/bias");
  const g1 = tf.tensor2d([
    [0.5, 2],
    [4, 3],
  ]);
  const g2 = tf.tensor1d([1, 0, 1.5]);
  created.push(w1, w2, g1, g2);
  const variables: tf.Variable[] = [w1, w2];
  const globalValues: tf.Tensor[] = [g1, g2];
  return { variables, globalValues };
}

beforeAll(async () => {
  await tf.setBackend("cpu");
});

afterEach(() => {
  tf.dispose(created.splice(0));
});

describe("fedProxPenalty", () => {
  it("is μ/2·‖w − g‖² and its gradient is μ·(w − g)", () => {
    const { variables, globalValues } = setUp();
    const { value, grads } = tf.variableGrads(
      () => fedProxPenalty(tf, { mu, variables, globalValues }),
      variables,
    );
    expect(value.dataSync()[0]).toBeCloseTo(0.65, 6);
    const expected: Record<string, number[]> = {
      "conv/kernel": [0.1, 0, -0.2, 0.2],
      "dense/bias": [-0.4, 0, 0.1],
    };
    expect(Object.keys(grads).sort()).toEqual(["conv/kernel", "dense/bias"]);
    for (const [name, values] of Object.entries(expected)) {
      const grad = Array.from(grads[name]!.dataSync());
      expect(grad.length).toBe(values.length);
      for (const [i, v] of values.entries()) expect(grad[i]).toBeCloseTo(v, 6);
    }
    tf.dispose([value, ...Object.values(grads)]);
  });

  it("adds μ·(w − g) to the task gradient inside optimizer.minimize", () => {
    const { variables, globalValues } = setUp();
    // Task loss Σw has gradient 1 everywhere; SGD with lr 0.5: w ← w − 0.5·(1 + μ(w − g)).
    //   w1: [[1 − 0.5·1.1, 2 − 0.5·1], [3 − 0.5·0.8, 4 − 0.5·1.2]] = [[0.45, 1.5], [2.6, 3.4]]
    //   w2: [−1 − 0.5·0.6, 0 − 0.5·1, 2 − 0.5·1.1] = [−1.3, −0.5, 1.45]
    const optimizer = tf.train.sgd(0.5);
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      optimizer.minimize(
        () =>
          tf.add(
            tf.addN(variables.map((v) => tf.sum(v))),
            fedProxPenalty(tf, { mu, variables, globalValues }),
          ),
        false,
        variables,
      );
    });
    expect(tf.memory().numTensors).toBe(before);
    const [w1, w2] = variables.map((v) => Array.from(v.dataSync()));
    for (const [i, v] of [0.45, 1.5, 2.6, 3.4].entries()) expect(w1![i]).toBeCloseTo(v, 6);
    for (const [i, v] of [-1.3, -0.5, 1.45].entries()) expect(w2![i]).toBeCloseTo(v, 6);
    optimizer.dispose();
  });

  it("is zero with a zero gradient when μ = 0 or the weights equal the global ones", () => {
    const { variables, globalValues } = setUp();
    const zeroMu = tf.variableGrads(() => fedProxPenalty(tf, { mu: 0, variables, globalValues }), variables);
    expect(zeroMu.value.dataSync()[0]).toBe(0);
    for (const grad of Object.values(zeroMu.grads))
      expect(Array.from(grad.dataSync()).every((g) => g === 0)).toBe(true);
    const snapshot = snapshotValues(tf, variables);
    const atGlobal = tf.tidy(() => fedProxPenalty(tf, { mu: 1, variables, globalValues: snapshot }));
    expect(atGlobal.dataSync()[0]).toBe(0);
    tf.dispose([zeroMu.value, ...Object.values(zeroMu.grads), atGlobal, ...snapshot]);
  });

  it("leaves no tensor behind but the returned scalar", () => {
    const { variables, globalValues } = setUp();
    const before = tf.memory().numTensors;
    const penalty = fedProxPenalty(tf, { mu, variables, globalValues });
    expect(tf.memory().numTensors).toBe(before + 1);
    penalty.dispose();
  });

  it.each<[string, (s: ReturnType<typeof setUp>) => Parameters<typeof fedProxPenalty>[1], string]>([
    ["a negative mu", (s) => ({ ...s, mu: -0.1 }), "mu"],
    ["a NaN mu", (s) => ({ ...s, mu: Number.NaN }), "mu"],
    [
      "fewer global values",
      (s) => ({ ...s, mu, globalValues: s.globalValues.slice(0, 1) }),
      "2 variables but 1",
    ],
    [
      "global values in the wrong order",
      (s) => ({ ...s, mu, globalValues: [...s.globalValues].reverse() }),
      '"conv/kernel" (index 0)',
    ],
  ])("rejects %s", (_what, options, fragment) => {
    const state = setUp();
    expectFlError(() => fedProxPenalty(tf, options(state)), ErrorCode.InvalidArgument, fragment);
  });
});

describe("snapshotValues", () => {
  it("keeps the values the variables had, surviving a tidy and later assignments", () => {
    const { variables } = setUp();
    const snapshot = tf.tidy(() => snapshotValues(tf, variables));
    variables[0]!.assign(tf.zeros([2, 2]));
    expect(Array.from(snapshot[0]!.dataSync())).toEqual([1, 2, 3, 4]);
    expect(Array.from(snapshot[1]!.dataSync())).toEqual([-1, 0, 2]);
    tf.dispose(snapshot);
  });
});
