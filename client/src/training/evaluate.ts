import type { UnetMultitaskSpec } from "../../../shared/src/fl/model-spec.js";
import type { EvaluateTask } from "../../../shared/src/fl/task.js";
import { oneVsRest } from "../../../shared/src/metrics/index.js";
import { CLASS_KEYS } from "../../../shared/src/ml/data/types.js";
import type { ModelWeights } from "../../../shared/src/weights/types.js";
import { evaluateClassifier } from "./local-training.js";
import { evaluateMultitask } from "./multitask.js";
import type { TrainerSite } from "./tasks/index.js";
import type { EvaluateOutcome } from "./trainer.js";

/** Scores the global model on a held-out split of the site, by the model's architecture. */
export function evaluateTask(
  site: TrainerSite,
  task: EvaluateTask,
  weights: ModelWeights,
): Promise<EvaluateOutcome> {
  const spec = task.model;
  if (spec.architecture === "unet-multitask") return evaluateUnet(site, task, spec, weights);
  const model = site.networks.smallCnnModel(spec, weights);
  return evaluateClassifier(site.backend.tf, model, site.data[task.split], { numClasses: spec.numClasses });
}

/** Class probabilities, confusion, ranking metrics and mask overlap of the multi-task network. */
async function evaluateUnet(
  site: TrainerSite,
  task: EvaluateTask,
  spec: UnetMultitaskSpec,
  weights: ModelWeights,
): Promise<EvaluateOutcome> {
  const network = site.networks.phaseNetwork(spec, "multitask", weights);
  const result = await evaluateMultitask(site.backend.tf, network, site.data[task.split], {
    numClasses: spec.numClasses,
  });
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
