import type * as tfc from "@tensorflow/tfjs-core";
import { type TrainHyperConfig, trainClassifier } from "../../client/src/training/local-training.js";
import type { SmallCnnSpec } from "../../shared/src/fl/model-spec.js";
import { l2Norm } from "../../shared/src/fl/stages/clip-l2.js";
import { classificationReport, confusionMatrix, rocAuc } from "../../shared/src/metrics/index.js";
import type { ImageSet, SiteSplits } from "../../shared/src/ml/data/types.js";
import { buildSmallCnn } from "../../shared/src/ml/model/small-cnn.js";
import { manifestOf, readWeights, writeWeights } from "../../shared/src/ml/model/weights-bridge.js";
import type { LoadedBackend } from "../../shared/src/ml/tf/backend.js";
import { type Mechanism, protectUpdates } from "./mechanism.js";

type Tf = LoadedBackend["tf"];

export interface FederationOptions {
  readonly spec: SmallCnnSpec;
  readonly sites: readonly SiteSplits[];
  readonly rounds: number;
  readonly hyper: TrainHyperConfig;
  readonly mechanism: Mechanism;
  readonly seed: number;
}

export interface FederationResult {
  /** Loss-threshold membership inference (Yeom et al. 2018) on the final model: AUC of −loss. */
  readonly miaAuc: number;
  /** Macro-F1 of the final model on the sites' pooled test splits. */
  readonly macroF1: number;
  /** Median L2 norm of the sites' first-round updates (before any clipping). */
  readonly firstRoundMedianNorm: number;
  readonly ms: number;
}

/**
 * FedAvg in one process: every site trains the global model with the project's local training
 * (client/src/training/local-training.ts: Adam, batch-norm in training mode), its delta passes the
 * mechanism's client side (clip-l2 stage, site noise), the coordinator combines the deltas (a
 * plain or secure-aggregation sum, central noise) and steps by their unweighted mean. The
 * unweighted mean keeps every site's influence bounded by the clip, as DP-FedAvg needs; the
 * preset's sites are of similar size, so it is close to FedAvg's weighted one.
 */
export async function runFederation(tf: Tf, options: FederationOptions): Promise<FederationResult> {
  const started = performance.now();
  const model = buildSmallCnn(options.spec);
  const manifest = manifestOf(model);
  try {
    let global = readWeights(model, manifest).values;
    let firstRoundMedianNorm = Number.NaN;
    for (let round = 1; round <= options.rounds; round++) {
      const deltas: Float32Array[] = [];
      for (const [index, site] of options.sites.entries()) {
        writeWeights(model, { manifest, values: global });
        await trainClassifier(tf, model, site.train, {
          hyper: options.hyper,
          numClasses: options.spec.numClasses,
          seed: options.seed * 10_000 + round * 100 + index,
        });
        const local = readWeights(model, manifest).values;
        deltas.push(local.map((v, i) => v - (global[i] as number)));
      }
      if (round === 1) firstRoundMedianNorm = median(deltas.map(l2Norm));
      const mean = protectUpdates(deltas, options.mechanism);
      global = global.map((v, i) => v + (mean[i] as number));
    }
    writeWeights(model, { manifest, values: global });
    const members = options.sites.map((s) => s.train);
    const nonMembers = options.sites.map((s) => s.val);
    const memberLoss = options.sites.flatMap((_, i) => perExampleLoss(tf, model, members[i] as ImageSet));
    const nonMemberLoss = options.sites.flatMap((_, i) =>
      perExampleLoss(tf, model, nonMembers[i] as ImageSet),
    );
    const scores = [...memberLoss, ...nonMemberLoss].map((loss) => -loss);
    const isMember = [...memberLoss.map(() => 1), ...nonMemberLoss.map(() => 0)];
    const miaAuc = rocAuc(scores, isMember);
    const truth: number[] = [];
    const predicted: number[] = [];
    for (const site of options.sites) {
      const { labels, argmax } = predict(tf, model, site.test);
      truth.push(...labels);
      predicted.push(...argmax);
    }
    const macroF1 = classificationReport(confusionMatrix(truth, predicted, options.spec.numClasses)).macroF1;
    return { miaAuc, macroF1, firstRoundMedianNorm, ms: performance.now() - started };
  } finally {
    model.dispose();
  }
}

function logits(tf: Tf, model: ReturnType<typeof buildSmallCnn>, set: ImageSet): Float32Array {
  return tf.tidy(() => {
    const x = tf.tensor4d(set.images, [set.count, set.size, set.size, 1]);
    return (model.predict(x) as tfc.Tensor).dataSync() as Float32Array;
  });
}

/** Cross-entropy of each labelled image under the model in inference mode. */
export function perExampleLoss(tf: Tf, model: ReturnType<typeof buildSmallCnn>, set: ImageSet): number[] {
  const values = logits(tf, model, set);
  const classes = values.length / set.count;
  const losses: number[] = [];
  for (let i = 0; i < set.count; i++) {
    const label = set.labels[i] as number;
    if (label < 0) continue;
    const row = values.subarray(i * classes, (i + 1) * classes);
    const max = Math.max(...row);
    const logSum = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
    const loss = logSum - (row[label] as number);
    // Noise can push a batch-norm moving variance below zero and the logits to NaN: such a
    // model is maximally unsure of everything, a loss of +∞ for members and non-members alike.
    losses.push(Number.isNaN(loss) ? Number.POSITIVE_INFINITY : loss);
  }
  return losses;
}

function predict(
  tf: Tf,
  model: ReturnType<typeof buildSmallCnn>,
  set: ImageSet,
): { labels: number[]; argmax: number[] } {
  const values = logits(tf, model, set);
  const classes = values.length / set.count;
  const labels: number[] = [];
  const argmax: number[] = [];
  for (let i = 0; i < set.count; i++) {
    const label = set.labels[i] as number;
    if (label < 0) continue;
    const row = Array.from(values.subarray(i * classes, (i + 1) * classes));
    labels.push(label);
    const finite = row.map((v) => (Number.isNaN(v) ? Number.NEGATIVE_INFINITY : v));
    argmax.push(finite.indexOf(Math.max(...finite)));
  }
  return { labels, argmax };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
