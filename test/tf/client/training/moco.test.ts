import { beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_AUGMENT_OPTIONS } from "../../../../client/src/training/augment.js";
import {
  copyQueryToKey,
  createMocoModels,
  FeatureQueue,
  type MocoRoundOptions,
  trainMocoRound,
} from "../../../../client/src/training/moco.js";
import type { LoadedBackend } from "../../../../shared/src/ml/tf/backend.js";
import { Rng } from "../../../../shared/src/random.js";
import { blobImageSet } from "../../../helpers/synthetic-images.js";
import { tinySpec, wasmBackend, weightValues } from "../../../helpers/training.js";

let tf: LoadedBackend["tf"];
beforeAll(async () => {
  tf = await wasmBackend();
});

/** key ← m·key + (1 − m)·query, element by element: MoCo's momentum update, computed in float64. */
function momentumUpdate(key: Float32Array, query: Float32Array, m: number): number[] {
  return Array.from(key, (k, i) => m * k + (1 - m) * (query[i] as number));
}

describe("feature queue", () => {
  const rows = (...values: number[][]) => Float32Array.from(values.flat());

  it("is FIFO with a fixed capacity: a full queue drops its oldest rows", () => {
    const queue = new FeatureQueue(3, 2);
    queue.enqueue(rows([1, 1], [2, 2]));
    expect(queue.size).toBe(2);
    expect(Array.from(queue.toArray())).toEqual([1, 1, 2, 2]);
    queue.enqueue(rows([3, 3], [4, 4]));
    expect(queue.size).toBe(3);
    expect(Array.from(queue.toArray())).toEqual([2, 2, 3, 3, 4, 4]);
    expect(Array.from(queue.dequeue(2))).toEqual([2, 2, 3, 3]);
    expect(Array.from(queue.toArray())).toEqual([4, 4]);
    queue.enqueue(rows([5, 5], [6, 6], [7, 7], [8, 8])); // more than it holds: the newest 3 stay
    expect(Array.from(queue.toArray())).toEqual([6, 6, 7, 7, 8, 8]);
    expect(Array.from(queue.dequeue(10))).toEqual([6, 6, 7, 7, 8, 8]);
    expect(queue.size).toBe(0);
  });

  it("refuses rows of the wrong width", () => {
    expect(() => new FeatureQueue(3, 2).enqueue(Float32Array.from([1, 2, 3]))).toThrow(/multiple of dim 2/);
  });

  it("starts full of seeded random unit vectors, and clones independently", () => {
    const queue = FeatureQueue.random(5, 4, new Rng(1));
    expect(queue.size).toBe(5);
    const values = queue.toArray();
    for (let r = 0; r < 5; r++) {
      const norm = Math.hypot(...values.subarray(r * 4, r * 4 + 4));
      expect(norm).toBeCloseTo(1, 5);
    }
    expect(FeatureQueue.random(5, 4, new Rng(1)).toArray()).toEqual(values);
    const copy = queue.clone();
    copy.enqueue(new Float32Array(4));
    expect(queue.toArray()).toEqual(values);
    expect(copy.toArray()).not.toEqual(values);
  });
});

/** No augmentation: both views equal the image, which makes MoCo's task learnable in a few steps. */
const NO_AUGMENT = {
  ...DEFAULT_AUGMENT_OPTIONS,
  cropScale: [1, 1] as const,
  cropAspect: [1, 1] as const,
  maxRotationDegrees: 0,
  brightness: 0,
  contrast: 0,
  maxNoiseStd: 0,
  blurProbability: 0,
};

describe("a MoCo round", () => {
  const spec = tinySpec();
  const images = blobImageSet({ count: 32, size: 32, seed: 4 });

  it("moves every trainable key weight by the momentum update of the query's", async () => {
    const models = createMocoModels(spec);
    // Make key and query differ, then train with learning rate 0 so the query stays put.
    const randomised = models.key.model.trainableWeights.map((w) =>
      tf.randomNormal(w.shape as number[], 0, 0.1, "float32", 5),
    );
    models.key.model.trainableWeights.forEach((w, i) => {
      w.write(randomised[i] as import("@tensorflow/tfjs-core").Tensor);
    });
    tf.dispose(randomised);
    const trainable = new Set(models.query.model.trainableWeights.map((w) => w.originalName));
    const query = [...weightValues(models.query.model, (name) => trainable.has(name)).values()];
    const keyBefore = models.key.model.trainableWeights.map((w) => Float32Array.from(w.read().dataSync()));
    const result = await trainMocoRound(tf, models, images, {
      batchSize: 8,
      maxSteps: 1,
      seed: 1,
      momentum: 0.9,
      optimizer: { kind: "adam", learningRate: 0 },
      queueSize: 8,
    });
    expect([...weightValues(models.query.model, (name) => trainable.has(name)).values()]).toEqual(query);
    const trainableNames = new Set(models.key.model.trainableWeights.map((w) => w.originalName));
    const keyAfter = result.keyWeights.manifest.tensors
      .filter((t) => trainableNames.has(t.name))
      .map((t) => result.keyWeights.values.subarray(t.offset, t.offset + t.length));
    expect(keyAfter).toHaveLength(keyBefore.length);
    keyBefore.forEach((before, i) => {
      const expected = momentumUpdate(
        before,
        Float32Array.from(models.query.model.trainableWeights[i]?.read().dataSync() ?? []),
        0.9,
      );
      const actual = keyAfter[i] as Float32Array;
      let worst = 0;
      for (let j = 0; j < expected.length; j++)
        worst = Math.max(worst, Math.abs((actual[j] as number) - (expected[j] as number)));
      expect(actual.length).toBe(expected.length);
      expect(worst).toBeLessThan(1e-6);
    });
    expect(result.keyWeights.manifest.tensors.every((t) => t.name.startsWith("key."))).toBe(true);
    models.query.dispose();
    models.key.dispose();
  });

  it("learns: the InfoNCE loss falls well below an untrained run's on the same batches, without leaks", async () => {
    const run = async (learningRate: number) => {
      const models = createMocoModels(spec);
      // A queue of one batch: it never holds an older key of the positive's own image.
      const queue = FeatureQueue.random(8, spec.projectionDim, new Rng(2));
      const options: MocoRoundOptions = {
        batchSize: 8,
        epochs: 6,
        seed: 7,
        // A faster-following key than the default 0.99, so that 24 steps show learning clearly.
        momentum: 0.9,
        optimizer: { kind: "adam", learningRate },
        augment: NO_AUGMENT,
        queue,
      };
      const initialQueue = queue.toArray();
      const before = tf.memory().numTensors;
      const losses: number[] = [];
      const result = await trainMocoRound(tf, models, images, {
        ...options,
        onStep: (_, values) => losses.push(values.loss as number),
      });
      expect(tf.memory().numTensors).toBe(before);
      expect(Array.from(queue.toArray())).toEqual(Array.from(initialQueue)); // the caller's queue is kept...
      expect(result.queue).not.toBe(queue); // ...the round returns its own
      expect(result.queue.toArray()).not.toEqual(initialQueue);
      expect(result.metrics.steps).toBe(24);
      models.query.dispose();
      models.key.dispose();
      return losses;
    };
    const untrained = await run(0);
    const trained = await run(3e-3);
    // The untrained network's features are nearly collapsed (loss ~1.6 with 8 negatives);
    // training spreads them (measured: ~0.75 over the last 8 of 24 steps).
    const last = (values: number[]) => values.slice(-8).reduce((a, b) => a + b, 0) / 8;
    expect(last(trained)).toBeLessThan(last(untrained) - 0.4);
  });

  it("copies query weights into the key on request and refuses a queue of the wrong width or a momentum outside [0, 1]", async () => {
    const models = createMocoModels(spec);
    models.key.model.trainableWeights[0]?.write(
      tf.zeros(models.key.model.trainableWeights[0].shape as number[]),
    );
    copyQueryToKey(models);
    expect(Array.from(models.key.model.trainableWeights[0]?.read().dataSync() ?? [])).toEqual(
      Array.from(models.query.model.trainableWeights[0]?.read().dataSync() ?? []),
    );
    await expect(
      trainMocoRound(tf, models, images, {
        batchSize: 8,
        seed: 1,
        optimizer: { kind: "adam", learningRate: 1e-3 },
        queue: new FeatureQueue(4, 3),
      }),
    ).rejects.toThrow(/3-d keys but the projection is 16-d/);
    await expect(
      trainMocoRound(tf, models, images, {
        batchSize: 8,
        seed: 1,
        momentum: 1.5,
        optimizer: { kind: "adam", learningRate: 1e-3 },
      }),
    ).rejects.toThrow(/momentum must be in \[0, 1\]/);
    models.query.dispose();
    models.key.dispose();
  });
});
