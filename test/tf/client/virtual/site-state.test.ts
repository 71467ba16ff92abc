import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMocoModels } from "../../../../client/src/training/moco.js";
import { NetworkCache } from "../../../../client/src/training/network-cache.js";
import { createTaskTrainer, type TrainerSite } from "../../../../client/src/training/tasks/index.js";
import { exportMocoState, type MocoCheckpoint } from "../../../../client/src/training/tasks/moco.js";
import { SiteStateFiles } from "../../../../client/src/virtual/site-state.js";
import { ErrorCode } from "../../../../shared/src/errors.js";
import { buildTrainTask, type TrainTask } from "../../../../shared/src/fl/task.js";
import { manifestOf, readWeights } from "../../../../shared/src/ml/model/index.js";
import { initBackend, type LoadedBackend } from "../../../../shared/src/ml/tf/backend.js";
import type { ModelWeights } from "../../../../shared/src/weights/types.js";
import { blobImageSet } from "../../../helpers/synthetic-images.js";
import { tinySpec } from "../../../helpers/training.js";

const spec = tinySpec({ phase: "moco" });
const images = (seed: number) => blobImageSet({ count: 16, size: 32, seed });
let backend: LoadedBackend;
let start: ModelWeights;
const dirs: string[] = [];

beforeAll(async () => {
  backend = await initBackend({ prefer: "wasm", log: () => {} });
  const models = createMocoModels(spec);
  start = readWeights(models.query.model, manifestOf(models.query.model));
  models.query.model.dispose();
  models.key.model.dispose();
});
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A fresh site object on the same images: what a worker builds when it loads the hospital again. */
function siteObject(): TrainerSite {
  return {
    backend,
    data: { siteId: "v1", train: images(1), val: images(2), test: images(3) },
    networks: new NetworkCache(),
  };
}

function stateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "site-state-"));
  dirs.push(dir);
  return dir;
}

const task = (round: number): TrainTask =>
  buildTrainTask({
    model: spec,
    task: "moco",
    train: { batchSize: 8, maxStepsPerRound: 2, learningRate: 1e-2 },
    seed: 10 + round,
    options: { queueSize: 24 },
  });

/** Two MoCo rounds; `between` may swap the site object for another (an eviction and reload). */
async function twoRounds(between: (site: TrainerSite) => TrainerSite) {
  let site = siteObject();
  const first = await createTaskTrainer(site)(task(1), start, () => {});
  site = between(site);
  const second = await createTaskTrainer(site)(task(2), first.weights, () => {});
  return { state: exportMocoState(site) as MocoCheckpoint, weights: second.weights };
}

function bytes(values: Float32Array): Buffer {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
}

describe("a virtual hospital's MoCo state on disk", () => {
  it("survives an eviction and a reload on another worker byte for byte", async () => {
    const kept = await twoRounds((site) => site);
    const dir = stateDir();
    const evicted = await twoRounds((site) => {
      const worker1 = new SiteStateFiles(dir);
      worker1.save("v1", site, "moco");
      worker1.release("v1", site);
      const reloaded = siteObject();
      new SiteStateFiles(dir).refresh("v1", reloaded);
      return reloaded;
    });
    // Without the file the second round starts a fresh key network and queue: the check can fail.
    const forgotten = await twoRounds(() => siteObject());

    expect(kept.state.queue?.rows.length).toBe(24 * spec.projectionDim);
    expect(
      bytes(evicted.state.queue?.rows as Float32Array).equals(bytes(kept.state.queue?.rows as Float32Array)),
    ).toBe(true);
    expect(bytes(evicted.state.keyWeights.values).equals(bytes(kept.state.keyWeights.values))).toBe(true);
    expect(evicted.state.keyWeights.manifest).toEqual(kept.state.keyWeights.manifest);
    expect(bytes(evicted.weights.values).equals(bytes(kept.weights.values))).toBe(true);
    expect(
      bytes(forgotten.state.queue?.rows as Float32Array).equals(
        bytes(kept.state.queue?.rows as Float32Array),
      ),
    ).toBe(false);
    expect(bytes(forgotten.state.keyWeights.values).equals(bytes(kept.state.keyWeights.values))).toBe(false);
    expect(readdirSync(dir)).toEqual(["v1.v8"]);
  });

  it("tells a worker that still holds a site that another worker has trained it since", async () => {
    const dir = stateDir();
    const worker1 = new SiteStateFiles(dir);
    const worker2 = new SiteStateFiles(dir);
    const onWorker1 = siteObject();
    const round1 = await createTaskTrainer(onWorker1)(task(1), start, () => {});
    worker1.save("v1", onWorker1, "moco");
    const onWorker2 = siteObject();
    worker2.refresh("v1", onWorker2);
    await createTaskTrainer(onWorker2)(task(2), round1.weights, () => {});
    worker2.save("v1", onWorker2, "moco");
    const latest = exportMocoState(onWorker2) as MocoCheckpoint;

    worker1.refresh("v1", onWorker1);
    const refreshed = exportMocoState(onWorker1) as MocoCheckpoint;
    expect(
      bytes(refreshed.queue?.rows as Float32Array).equals(bytes(latest.queue?.rows as Float32Array)),
    ).toBe(true);
    expect(bytes(refreshed.keyWeights.values).equals(bytes(latest.keyWeights.values))).toBe(true);
  });

  it("frees the networks of a site pushed out, and keeps its file for the next load", async () => {
    const dir = stateDir();
    const files = new SiteStateFiles(dir);
    const site = siteObject();
    const before = backend.tf.memory().numTensors;
    await createTaskTrainer(site)(task(1), start, () => {});
    expect(backend.tf.memory().numTensors).toBeGreaterThan(before);
    files.save("v1", site, "moco");
    files.release("v1", site);
    expect(backend.tf.memory().numTensors).toBe(before);
    expect(exportMocoState(site)).toBeUndefined();
    expect(readdirSync(dir)).toEqual(["v1.v8"]);
  });

  it("writes nothing for kinds without state, and refuses an unreadable file with what to do", () => {
    const dir = stateDir();
    const files = new SiteStateFiles(dir);
    files.save("v2", siteObject(), "multitask");
    expect(readdirSync(dir)).toEqual([]);
    writeFileSync(join(dir, "v2.v8"), "not a checkpoint");
    expect(() => files.refresh("v2", siteObject())).toThrow(
      expect.objectContaining({
        code: ErrorCode.DataError,
        message: expect.stringMatching(/virtual hospital v2 .*delete the file/),
      }),
    );
  });
});
