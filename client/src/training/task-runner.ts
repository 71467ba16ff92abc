import type * as tfl from "@tensorflow/tfjs-layers";
import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import type { ModelSpec } from "../../../shared/src/fl/model-spec.js";
import type { EvaluateTaskConfig, TrainTaskConfig } from "../../../shared/src/fl/task-config.js";
import type { SiteSplits } from "../../../shared/src/ml/data/types.js";
import { buildModel, manifestOf, readWeights, writeWeights } from "../../../shared/src/ml/model/index.js";
import type { LoadedBackend } from "../../../shared/src/ml/tf/backend.js";
import type { ModelWeights } from "../../../shared/src/weights/types.js";
import { applyLabelFraction } from "./label-fraction.js";
import { evaluateClassifier, trainClassifier } from "./local-training.js";
import { UnetTasks } from "./unet-tasks.js";

export interface TrainOutcome {
  readonly weights: ModelWeights;
  readonly numExamples: number;
  readonly metrics: Record<string, number>;
}

export interface EvaluateOutcome {
  readonly confusion: number[][];
  readonly numExamples: number;
  readonly metrics: Record<string, number>;
}

/**
 * Runs one task on a site's data: builds (and caches) the model a task names, loads the weights
 * it came with, hides labels beyond the phase's label fraction, and dispatches to the trainer of
 * the task kind.
 */
export class TaskRunner {
  private cached: { key: string; model: tfl.LayersModel } | undefined;
  private readonly unet: UnetTasks;

  constructor(
    private readonly backend: LoadedBackend,
    private readonly data: SiteSplits,
  ) {
    this.unet = new UnetTasks(backend, data);
  }

  async train(
    task: TrainTaskConfig,
    weights: ModelWeights,
    onProgress: (fraction: number, status: string) => void,
  ): Promise<TrainOutcome> {
    // Self-supervised phases use every image; supervised ones only the phase's share of labels.
    const train =
      task.task === "moco" || task.task === "inpaint"
        ? this.data.train
        : applyLabelFraction(this.data.train, task.labelFraction, task.seed);
    const spec = task.model;
    if (spec.architecture === "unet-multitask")
      return this.unet.train(task, spec, train, weights, onProgress);
    if (task.task !== "classify") {
      throw new FlError(
        ErrorCode.Unsupported,
        `task "${task.task}" needs the unet-multitask model; small-cnn only classifies`,
      );
    }
    const model = this.smallCnn(spec);
    writeWeights(model, weights);
    const result = await trainClassifier(this.backend.tf, model, train, {
      hyper: task.train,
      numClasses: spec.numClasses,
      seed: task.seed,
      fedproxMu: task.fedproxMu,
      onProgress: (fraction) => onProgress(fraction, "training"),
    });
    return {
      weights: readWeights(model, manifestOf(model)),
      numExamples: result.numExamples,
      metrics: result.metrics,
    };
  }

  async evaluate(task: EvaluateTaskConfig, weights: ModelWeights): Promise<EvaluateOutcome> {
    const spec = task.model;
    if (spec.architecture === "unet-multitask") return this.unet.evaluate(task, spec, weights);
    const model = this.smallCnn(spec);
    writeWeights(model, weights);
    return evaluateClassifier(this.backend.tf, model, this.data[task.split], { numClasses: spec.numClasses });
  }

  private smallCnn(spec: ModelSpec): tfl.LayersModel {
    const key = JSON.stringify(spec);
    if (this.cached?.key !== key) {
      this.cached?.model.dispose();
      this.cached = { key, model: buildModel(spec) };
    }
    return this.cached.model;
  }
}
