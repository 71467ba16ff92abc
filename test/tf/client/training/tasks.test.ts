import { beforeAll, describe, expect, it } from "vitest";
import { evaluateTask } from "../../../../client/src/training/evaluate.js";
import { applyLabelFraction } from "../../../../client/src/training/label-fraction.js";
import { evaluateClassifier, trainClassifier } from "../../../../client/src/training/local-training.js";
import { NetworkCache } from "../../../../client/src/training/network-cache.js";
import { createTaskTrainer, type TrainerSite } from "../../../../client/src/training/tasks/index.js";
import { ErrorCode } from "../../../../shared/src/errors.js";
import type { SmallCnnSpec } from "../../../../shared/src/fl/model-spec.js";
import { buildEvaluateTask, buildTrainTask } from "../../../../shared/src/fl/task.js";
import {
  buildModel,
  buildPhaseNetwork,
  manifestOf,
  readWeights,
  writeWeights,
} from "../../../../shared/src/ml/model/index.js";
import { initBackend } from "../../../../shared/src/ml/tf/backend.js";
import { toyImageSet } from "../../../helpers/synthetic-images.js";
import { tinySpec } from "../../../helpers/training.js";

const SMALL_CNN: SmallCnnSpec = {
  architecture: "small-cnn",
  imageSize: 32,
  widths: [4],
  numClasses: 4,
  seed: 2,
};

let site: TrainerSite;
beforeAll(async () => {
  const backend = await initBackend({ prefer: "wasm", log: () => {} });
  const images = (seed: number) => toyImageSet({ count: 16, size: 32, seed });
  site = {
    backend,
    data: { siteId: "a", train: images(1), val: images(2), test: images(3) },
    networks: new NetworkCache(),
  };
});

function initialWeights(spec: SmallCnnSpec) {
  const model = buildModel(spec);
  const weights = readWeights(model, manifestOf(model));
  model.dispose();
  return weights;
}

describe("the trainers of the task kinds", () => {
  it("train the small CNN exactly as trainClassifier does, on the phase's share of labels", async () => {
    const task = buildTrainTask({
      model: SMALL_CNN,
      task: "classify",
      train: { batchSize: 4, learningRate: 1e-2 },
      labelFraction: 0.5,
      seed: 9,
    });
    const start = initialWeights(SMALL_CNN);
    const outcome = await createTaskTrainer(site)(task, start, () => {});

    const model = buildModel(SMALL_CNN);
    writeWeights(model, start);
    const direct = await trainClassifier(
      site.backend.tf,
      model,
      applyLabelFraction(site.data.train, 0.5, 9),
      {
        hyper: task.train,
        numClasses: 4,
        seed: 9,
        fedproxMu: 0,
      },
    );
    expect(outcome.numExamples).toBe(8);
    expect(outcome.metrics).toEqual(direct.metrics);
    expect(Array.from(outcome.weights.values)).toEqual(
      Array.from(readWeights(model, manifestOf(model)).values),
    );

    const evaluation = await evaluateTask(site, buildEvaluateTask({ model: SMALL_CNN }), outcome.weights, {
      siteId: "a",
    });
    writeWeights(model, outcome.weights);
    const directEvaluation = await evaluateClassifier(site.backend.tf, model, site.data.test, {
      numClasses: 4,
    });
    expect(evaluation.confusion).toEqual(directEvaluation.confusion);
    expect(evaluation.numExamples).toBe(directEvaluation.numExamples);
    expect(evaluation.metrics.loss).toBe(directEvaluation.metrics.loss);
    model.dispose();
  });

  it("refuse the self-supervised kinds on the small CNN", async () => {
    const task = buildTrainTask({ model: SMALL_CNN, task: "moco", train: {}, seed: 1 });
    await expect(createTaskTrainer(site)(task, initialWeights(SMALL_CNN), () => {})).rejects.toMatchObject({
      code: ErrorCode.Unsupported,
      message: expect.stringContaining("needs the unet-multitask model"),
    });
  });

  it("pre-train by inpainting on every image, whatever the label fraction", async () => {
    const spec = tinySpec({ phase: "inpainting" });
    const network = buildPhaseNetwork(spec);
    const start = readWeights(network.model, manifestOf(network.model));
    const task = buildTrainTask({
      model: spec,
      task: "inpainting",
      train: { batchSize: 8, maxStepsPerRound: 1 },
      labelFraction: 0.25,
      seed: 1,
    });
    const outcome = await createTaskTrainer(site)(task, start, () => {});
    expect(outcome.numExamples).toBe(16);
    expect(outcome.weights.manifest.tensors.map((t) => t.name)).toEqual(
      start.manifest.tensors.map((t) => t.name),
    );
  });
});
