import type { UnetMultitaskSpec } from "../../../shared/src/fl/model-spec.js";
import type { EvaluateTask } from "../../../shared/src/fl/task.js";
import type { EvaluationStatistics } from "../../../shared/src/metrics/evaluation-statistics.js";
import { oneVsRest, type SegmentationCounts } from "../../../shared/src/metrics/index.js";
import { computeSiteStatistics } from "../../../shared/src/metrics/site-statistics.js";
import { CLASS_KEYS } from "../../../shared/src/ml/data/types.js";
import { deriveSeed } from "../../../shared/src/random.js";
import type { ModelWeights } from "../../../shared/src/weights/types.js";
import { evaluateClassifier } from "./local-training.js";
import { evaluateMultitask } from "./multitask.js";
import type { TrainerSite } from "./tasks/index.js";
import type { EvaluateOutcome } from "./trainer.js";

/** Who evaluates: the site's id makes its bootstrap resamples its own. */
export interface EvaluationContext {
  readonly siteId: string;
}

/** A split's class probabilities and true classes, as the evaluators return them. */
interface Scored {
  readonly probabilities: Float32Array;
  readonly labels: Int32Array;
}

/**
 * Scores the global model on a held-out split of the site, by the model's architecture: the
 * confusion matrix, the site's own ranking metrics, and the statistics the coordinator pools.
 */
export async function evaluateTask(
  site: TrainerSite,
  task: EvaluateTask,
  weights: ModelWeights,
  context: EvaluationContext,
): Promise<EvaluateOutcome> {
  const spec = task.model;
  if (spec.architecture === "unet-multitask") return evaluateUnet(site, task, spec, weights, context);
  const { tf } = site.backend;
  const model = site.networks.smallCnnModel(spec, weights);
  const options = { numClasses: spec.numClasses };
  const result = await evaluateClassifier(tf, model, site.data[task.split], options);
  const validation = task.temperatureScaling
    ? await evaluateClassifier(tf, model, site.data.val, options)
    : undefined;
  return {
    confusion: result.confusion,
    numExamples: result.numExamples,
    metrics: finite({ ...result.metrics, ...rankingMetrics(result, spec.numClasses) }),
    statistics: statisticsOf(task, context, spec.numClasses, result, validation),
  };
}

/** Class probabilities, confusion, ranking metrics and mask overlap of the multi-task network. */
async function evaluateUnet(
  site: TrainerSite,
  task: EvaluateTask,
  spec: UnetMultitaskSpec,
  weights: ModelWeights,
  context: EvaluationContext,
): Promise<EvaluateOutcome> {
  const { tf } = site.backend;
  const network = site.networks.phaseNetwork(spec, "multitask", weights);
  const options = { numClasses: spec.numClasses };
  const result = await evaluateMultitask(tf, network, site.data[task.split], options);
  const validation = task.temperatureScaling
    ? await evaluateMultitask(tf, network, site.data.val, options)
    : undefined;
  const seg = result.segmentation;
  const metrics: Record<string, number> = {
    ...result.metrics,
    ...rankingMetrics(result, spec.numClasses),
    "seg.images": seg.images,
    "seg.diceSum": seg.diceSum,
    "seg.iouSum": seg.iouSum,
    "seg.intersection": seg.intersection,
    "seg.predicted": seg.predicted,
    "seg.actual": seg.actual,
  };
  return {
    confusion: result.confusion,
    numExamples: result.numExamples,
    metrics: finite(metrics),
    statistics: statisticsOf(task, context, spec.numClasses, result, validation, result.perImage),
  };
}

/** The site's exact ROC-AUC and AP on its own images (scalars; its scores stay here). */
function rankingMetrics(scored: Scored, numClasses: number): Record<string, number> {
  const ranking = oneVsRest(scored.probabilities, scored.labels, numClasses);
  const metrics: Record<string, number> = { macroAuc: ranking.macroAuc, mAP: ranking.mAP };
  ranking.auc.forEach((auc, c) => {
    metrics[`auc.${CLASS_KEYS[c] ?? c}`] = auc;
  });
  ranking.ap.forEach((ap, c) => {
    metrics[`ap.${CLASS_KEYS[c] ?? c}`] = ap;
  });
  return metrics;
}

function statisticsOf(
  task: EvaluateTask,
  context: EvaluationContext,
  numClasses: number,
  test: Scored,
  validation: Scored | undefined,
  segmentation?: SegmentationCounts[],
): EvaluationStatistics {
  return computeSiteStatistics({
    probabilities: test.probabilities,
    labels: test.labels,
    numClasses,
    bootstrapReplicates: task.bootstrap,
    bootstrapSeed: deriveSeed(task.seed, "bootstrap", context.siteId),
    ...(segmentation && { segmentation }),
    ...(validation &&
      validation.labels.length > 0 && {
        validation: { probabilities: validation.probabilities, labels: validation.labels },
      }),
  });
}

/** Undefined metrics (a class absent at this site) are left out rather than sent as NaN. */
function finite(metrics: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(metrics).filter(([, v]) => Number.isFinite(v)));
}
