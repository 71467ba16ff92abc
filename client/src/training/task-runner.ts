import type * as tfl from "@tensorflow/tfjs-layers";
import type { SiteSplits } from "../../../shared/src/data/types.js";
import { ErrorCode, FlError } from "../../../shared/src/errors.js";
import { buildModel, manifestOf, readWeights, writeWeights } from "../../../shared/src/model/index.js";
import type { ModelSpec } from "../../../shared/src/model/spec.js";
import type { LoadedBackend } from "../../../shared/src/tf/backend.js";
import type { EvaluateTaskConfig, TrainTaskConfig } from "../../../shared/src/training/task-config.js";
import type { ModelWeights } from "../../../shared/src/weights/types.js";
import { applyLabelFraction } from "./label-fraction.js";
import { evaluateClassifier, trainClassifier } from "./local-training.js";

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

  constructor(
    private readonly backend: LoadedBackend,
    private readonly data: SiteSplits,
  ) {}

  async train(
    task: TrainTaskConfig,
    weights: ModelWeights,
    onProgress: (fraction: number, status: string) => void,
  ): Promise<TrainOutcome> {
    const model = this.modelFor(task.model);
    writeWeights(model, weights);
    const train = applyLabelFraction(this.data.train, task.labelFraction, task.seed);
    switch (task.task) {
      case "classify": {
        const result = await trainClassifier(this.backend.tf, model, train, {
          hyper: task.train,
          numClasses: task.model.numClasses,
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
      default:
        throw new FlError(
          ErrorCode.Unsupported,
          `task "${task.task}" needs a model with its heads; the ${task.model.architecture} model only classifies`,
        );
    }
  }

  async evaluate(task: EvaluateTaskConfig, weights: ModelWeights): Promise<EvaluateOutcome> {
    const model = this.modelFor(task.model);
    writeWeights(model, weights);
    return evaluateClassifier(this.backend.tf, model, this.data[task.split], {
      numClasses: task.model.numClasses,
    });
  }

  private modelFor(spec: ModelSpec): tfl.LayersModel {
    const key = JSON.stringify(spec);
    if (this.cached?.key !== key) {
      this.cached?.model.dispose();
      this.cached = { key, model: buildModel(spec) };
    }
    return this.cached.model;
  }
}
