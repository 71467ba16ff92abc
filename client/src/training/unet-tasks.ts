import type { EvaluateTaskConfig, TrainTaskConfig } from "../../../shared/src/fl/task-config.js";
import {
  ClassifyOptionsSchema,
  InpaintOptionsSchema,
  MocoOptionsSchema,
  MultitaskOptionsSchema,
} from "../../../shared/src/fl/task-options.js";
import { oneVsRest } from "../../../shared/src/metrics/index.js";
import type { ImageSet } from "../../../shared/src/ml/data/types.js";
import { CLASS_KEYS, type SiteSplits } from "../../../shared/src/ml/data/types.js";
import {
  type AnyPhaseNetwork,
  buildPhaseNetwork,
  type InpaintingNetwork,
  type MultitaskNetwork,
  manifestOf,
  readWeights,
  type UnetMultitaskSpec,
  writeWeights,
} from "../../../shared/src/ml/model/index.js";
import type { LoadedBackend } from "../../../shared/src/ml/tf/backend.js";
import type { ModelWeights } from "../../../shared/src/weights/types.js";
import { allIndices, labelledIndices, planBatches } from "./batches.js";
import { trainInpaintingRound } from "./inpainting.js";
import {
  copyQueryToKey,
  createMocoModels,
  type FeatureQueue,
  MOCO_DEFAULTS,
  type MocoModels,
  trainMocoRound,
} from "./moco.js";
import { evaluateMultitask, trainMultitaskRound } from "./multitask.js";
import type { LocalRoundOptions } from "./round.js";
import { cosineWithWarmup } from "./schedule.js";
import type { EvaluateOutcome, TrainOutcome } from "./task-runner.js";

type Progress = (fraction: number, status: string) => void;

/**
 * The paper's tasks on the U-Net multi-task network: classification (λ = 0), multi-task,
 * inpainting and MoCo pre-training. Networks are cached per phase; the MoCo key network and
 * queue stay at the hospital between rounds (in this process).
 */
export class UnetTasks {
  private readonly networks = new Map<string, AnyPhaseNetwork>();
  private moco: { key: string; models: MocoModels; keyReady: boolean; queue?: FeatureQueue } | undefined;

  constructor(
    private readonly backend: LoadedBackend,
    private readonly data: SiteSplits,
  ) {}

  async train(
    task: TrainTaskConfig,
    spec: UnetMultitaskSpec,
    train: ImageSet,
    weights: ModelWeights,
    onProgress: Progress,
  ): Promise<TrainOutcome> {
    const { tf } = this.backend;
    const hyper = task.train;
    const steps = {
      batchSize: hyper.batchSize,
      epochs: hyper.epochs,
      maxSteps: hyper.maxStepsPerRound,
      seed: task.seed,
    };
    // One schedule spans the whole phase: this round starts where the previous one ended.
    const selfSupervised = task.task === "moco" || task.task === "inpaint";
    const stepsPerRound = planBatches(
      selfSupervised ? allIndices(train) : labelledIndices(train),
      steps,
    ).length;
    const learningRate =
      hyper.schedule === "cosine"
        ? cosineWithWarmup({
            baseLearningRate: hyper.learningRate,
            warmupSteps: hyper.warmupSteps,
            totalSteps: Math.max(1, stepsPerRound * task.phaseRounds),
          })
        : hyper.learningRate;
    const round: LocalRoundOptions = {
      ...steps,
      optimizer: {
        kind: hyper.optimizer,
        learningRate,
        momentum: hyper.momentum,
        weightDecay: hyper.weightDecay,
        proximalMu: task.fedproxMu,
      },
      firstStep: (task.roundInPhase - 1) * stepsPerRound,
      onProgress: (fraction) => onProgress(fraction, task.task),
    };
    switch (task.task) {
      case "classify":
      case "multitask": {
        const options =
          task.task === "classify"
            ? { ...ClassifyOptionsSchema.parse(task.options), segmentationWeight: 0 }
            : MultitaskOptionsSchema.parse(task.options);
        const network = this.network(spec, weights) as MultitaskNetwork;
        const result = await trainMultitaskRound(tf, network, train, {
          ...round,
          numClasses: spec.numClasses,
          classWeighting: task.train.classWeighting,
          ...(options.mode && { mode: options.mode }),
          ...(options.classificationLoss && { classificationLoss: options.classificationLoss }),
          ...(options.focalGamma !== undefined && { focalGamma: options.focalGamma }),
          ...(options.segmentationWeight !== undefined && { segmentationWeight: options.segmentationWeight }),
          ...(!options.augment && { augment: false as const }),
        });
        return { weights: readWeights(network.model, manifestOf(network.model)), ...result };
      }
      case "inpaint": {
        const options = InpaintOptionsSchema.parse(task.options);
        const network = this.network(spec, weights) as InpaintingNetwork;
        const result = await trainInpaintingRound(tf, network, train, {
          ...round,
          ...(options.loss && { loss: options.loss }),
          ...(options.fill && { fill: options.fill }),
          ...(!options.augment && { augment: false as const }),
        });
        return { weights: readWeights(network.model, manifestOf(network.model)), ...result };
      }
      case "moco": {
        const options = MocoOptionsSchema.parse(task.options);
        const device = MOCO_DEFAULTS[this.backend.name === "tensorflow-gpu" ? "gpu" : "cpu"];
        const state = this.mocoState(spec);
        writeWeights(state.models.query.model, weights);
        // The key encoder starts as the first global query encoder this site sees, then follows
        // it by momentum, round after round, without ever leaving the hospital.
        if (!state.keyReady) {
          copyQueryToKey(state.models);
          state.keyReady = true;
        }
        const result = await trainMocoRound(tf, state.models, train, {
          ...round,
          ...(options.temperature !== undefined && { temperature: options.temperature }),
          ...(options.momentum !== undefined && { momentum: options.momentum }),
          // Sized for the device unless the plan says otherwise: a longer queue and more BN groups on a GPU.
          queueSize: options.queueSize ?? device.queueSize,
          shuffleBnGroups: options.shuffleBnGroups ?? device.shuffleBnGroups,
          ...(state.queue && { queue: state.queue }),
        });
        state.queue = result.queue;
        const query = state.models.query.model;
        return {
          weights: readWeights(query, manifestOf(query)),
          numExamples: result.numExamples,
          metrics: result.metrics,
        };
      }
    }
  }

  /** Class probabilities, confusion, ranking metrics and mask overlap on a held-out split. */
  async evaluate(
    task: EvaluateTaskConfig,
    spec: UnetMultitaskSpec,
    weights: ModelWeights,
  ): Promise<EvaluateOutcome> {
    const network = this.network({ ...spec, phase: "multitask" }, weights) as MultitaskNetwork;
    const split = this.data[task.split];
    const result = await evaluateMultitask(this.backend.tf, network, split, { numClasses: spec.numClasses });
    const ranking = oneVsRest(result.probabilities, result.labels, spec.numClasses);
    const metrics: Record<string, number> = {
      ...result.metrics,
      macroAuc: ranking.macroAuc,
      mAP: ranking.mAP,
    };
    ranking.auc.forEach((auc, c) => {
      metrics[`auc.${CLASS_KEYS[c] ?? c}`] = auc;
    });
    ranking.ap.forEach((ap, c) => {
      metrics[`ap.${CLASS_KEYS[c] ?? c}`] = ap;
    });
    const seg = result.segmentation;
    Object.assign(metrics, {
      "seg.images": seg.images,
      "seg.diceSum": seg.diceSum,
      "seg.iouSum": seg.iouSum,
      "seg.intersection": seg.intersection,
      "seg.predicted": seg.predicted,
      "seg.actual": seg.actual,
    });
    // Undefined metrics (a class absent at this site) are left out rather than sent as NaN.
    const finite = Object.fromEntries(Object.entries(metrics).filter(([, v]) => Number.isFinite(v)));
    return { confusion: result.confusion, numExamples: result.numExamples, metrics: finite };
  }

  private network(spec: UnetMultitaskSpec, weights: ModelWeights): AnyPhaseNetwork {
    const key = JSON.stringify(spec);
    let network = this.networks.get(key);
    if (!network) {
      network = buildPhaseNetwork(spec);
      this.networks.set(key, network);
    }
    writeWeights(network.model, weights);
    return network;
  }

  private mocoState(spec: UnetMultitaskSpec): NonNullable<UnetTasks["moco"]> {
    const key = JSON.stringify(spec);
    if (this.moco?.key !== key) {
      this.moco = { key, models: createMocoModels(spec), keyReady: false };
    }
    return this.moco;
  }
}
