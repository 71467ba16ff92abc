import type * as tfc from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend, type LoadedBackend } from "../../../shared/src/ml/tf/backend.js";
import { resizeWasmPool, wasmPoolSize } from "../../../shared/src/ml/tf/threads/threaded-wasm.js";

type Tf = LoadedBackend["tf"];
let tf: Tf;
let detail: string;
beforeAll(async () => {
  const loaded = await initBackend({ prefer: "wasm", threads: 2, log: () => {} });
  tf = loaded.tf;
  detail = loaded.detail;
});

/** Two conv-BN-ReLU stages (the second strided), pooling and a dense head: every kernel a step uses. */
function buildNet(): tfl.LayersModel {
  const input = tfl.input({ shape: [32, 32, 3] });
  let x: tfl.SymbolicTensor = input;
  for (const [i, strides] of [1, 2].entries()) {
    x = tfl.layers
      .conv2d({
        filters: 16,
        kernelSize: 3,
        strides,
        padding: "same",
        useBias: false,
        kernelInitializer: tfl.initializers.glorotUniform({ seed: 11 + i }),
      })
      .apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.batchNormalization().apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.reLU().apply(x) as tfl.SymbolicTensor;
  }
  x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  const output = tfl.layers
    .dense({
      units: 4,
      activation: "softmax",
      kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }),
    })
    .apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: output });
}

/** Three Adam steps from the same weights and batch; returns every weight (BN moving statistics too). */
function trainThreeSteps(): Float32Array[] {
  const model = buildNet();
  const optimizer = tf.train.adam(1e-2);
  const x = tf.randomNormal([8, 32, 32, 3], 0, 1, "float32", 5);
  const labels = tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], "int32");
  const y = tf.cast(tf.oneHot(labels, 4), "float32");
  try {
    for (let step = 0; step < 3; step++) {
      tf.tidy(() => {
        optimizer.minimize(() => {
          const predicted = model.apply(x, { training: true }) as tfc.Tensor;
          return tf.mean(tfl.metrics.categoricalCrossentropy(y, predicted)) as tfc.Scalar;
        });
      });
    }
    return model.weights.map((w) => w.read().dataSync() as Float32Array);
  } finally {
    optimizer.dispose();
    model.dispose();
    tf.dispose([x, labels, y]);
  }
}

describe("the threaded wasm build", () => {
  it("loads in Node with the pool it was asked for", () => {
    expect(tf.getBackend()).toBe("wasm");
    expect(wasmPoolSize(tf.backend())).toBe(2);
    expect(detail).toContain("2 threads");
  });

  it("trains to the same weights on two threads as on one", () => {
    expect(resizeWasmPool(tf.backend(), 2)).toBe(2);
    const twoThreads = trainThreeSteps();
    expect(resizeWasmPool(tf.backend(), 1)).toBe(1);
    const oneThread = trainThreeSteps();
    resizeWasmPool(tf.backend(), 2);
    expect(twoThreads.length).toBe(oneThread.length);
    for (const [i, weights] of twoThreads.entries()) {
      const reference = oneThread[i] as Float32Array;
      expect(weights.length).toBe(reference.length);
      let worst = 0;
      for (let j = 0; j < weights.length; j++) {
        const scale = Math.max(1, Math.abs(reference[j] as number));
        worst = Math.max(worst, Math.abs((weights[j] as number) - (reference[j] as number)) / scale);
      }
      expect(worst, `weight ${i}`).toBeLessThanOrEqual(1e-5);
    }
    // Training moved the weights: equal results are not equal because nothing happened.
    const untrained = buildNet();
    const before = untrained.weights[0]?.read().dataSync() as Float32Array;
    expect(Math.abs((before[0] as number) - (oneThread[0]?.[0] as number))).toBeGreaterThan(1e-4);
    untrained.dispose();
  });

  it("refuses a pool that needs more workers than the build pre-started, instead of hanging", () => {
    // Each pool of 2 takes one of the eight workers: by the eighth at the latest none is left.
    let refusal: unknown;
    for (let i = 0; i < 8 && refusal === undefined; i++) {
      try {
        resizeWasmPool(tf.backend(), 2);
      } catch (error: unknown) {
        refusal = error;
      }
    }
    expect(String(refusal)).toMatch(/pre-started workers/);
    expect(wasmPoolSize(tf.backend())).toBe(2);
  });
});
