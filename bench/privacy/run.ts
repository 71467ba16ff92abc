import { ErrorCode, FlError } from "../../shared/src/errors.js";
import type { SmallCnnSpec } from "../../shared/src/fl/model-spec.js";
import { listSites, loadSiteSplits } from "../../shared/src/ml/data/index.js";
import type { SiteSplits } from "../../shared/src/ml/data/types.js";
import { buildSmallCnn } from "../../shared/src/ml/model/small-cnn.js";
import { type BackendPreference, initBackend } from "../../shared/src/ml/tf/backend.js";
import { noiseMultiplierFor } from "../../shared/src/privacy/rdp-accountant.js";
import { cnnParamsOf } from "./cnn.js";
import { runFederation } from "./federation.js";
import { bestMatch, psnr, ssim } from "./image-metrics.js";
import { DEFAULT_INVERSION, invertGradient } from "./inversion.js";
import { linkageRecall } from "./linkage.js";
import { coordinatorView, type Mechanism } from "./mechanism.js";
import { initialMovingStats, observe, oneStepUpdate } from "./observation.js";
import { registerSecondOrderGradients } from "./second-order.js";

/** The bench's size; `quick` is the smoke test's. */
export interface PrivacyBenchSize {
  readonly imageSize: number;
  readonly widths: readonly number[];
  readonly imagesPerSite: number;
  readonly rounds: number;
  readonly localEpochs: number;
  readonly learningRate: number;
  readonly batchSize: number;
  /** Images in the attacked one-step batch. */
  readonly attackBatch: number;
  readonly inversionIterations: number;
  /** Wall-clock bound of one inversion, in seconds. */
  readonly inversionSeconds: number;
  /** Gallery images besides the attacked batch's (linkage attack). */
  readonly distractors: number;
  readonly epsilons: readonly number[];
}

export const DEFAULT_SIZE: PrivacyBenchSize = {
  imageSize: 24,
  widths: [16, 32],
  imagesPerSite: 120,
  rounds: 10,
  localEpochs: 3,
  learningRate: 5e-3,
  batchSize: 8,
  attackBatch: 1,
  inversionIterations: 150,
  inversionSeconds: 25,
  distractors: 47,
  epsilons: [1, 8, 64],
};

export const QUICK_SIZE: PrivacyBenchSize = {
  imageSize: 16,
  widths: [8, 16],
  imagesPerSite: 24,
  rounds: 2,
  localEpochs: 2,
  learningRate: 5e-3,
  batchSize: 8,
  attackBatch: 1,
  inversionIterations: 40,
  inversionSeconds: 6,
  distractors: 47,
  epsilons: [8],
};

/** DP's δ: far below 1 / (number of sites), as (ε, δ)-DP asks. */
export const DP_DELTA = 1e-5;
/** η of the attacked one-step update (FedSGD); the cosine attack does not depend on it. */
const ATTACK_STEP = 0.05;

export interface PrivacyBenchOptions {
  readonly size: PrivacyBenchSize;
  readonly quick: boolean;
  readonly seed: number;
  readonly preset: string;
  readonly backend: BackendPreference;
  readonly say: (line: string) => void;
}

export interface SettingResult {
  /** Short id: plain, secagg, dp-central, dp-site, secagg+dp. */
  readonly setting: string;
  /** What the coordinator sees, in words. */
  readonly sees: string;
  readonly epsilon: number | null;
  readonly noiseMultiplier: number | null;
  readonly inversion: {
    readonly psnr: number;
    readonly ssim: number;
    readonly cosineLoss: number;
    readonly labelsCorrect: number;
    readonly iterations: number;
    readonly ms: number;
  };
  /** Fraction of the attacked batch the gallery attack ranks first (chance: batch / gallery). */
  readonly linkageRecall: number;
  readonly miaAuc: number;
  readonly macroF1: number;
  readonly trainingMs: number;
}

export interface PrivacyBenchResults {
  readonly bench: "privacy";
  readonly quick: boolean;
  readonly seed: number;
  readonly preset: string;
  readonly backend: string;
  readonly size: PrivacyBenchSize;
  readonly model: SmallCnnSpec;
  readonly sites: readonly {
    readonly id: string;
    readonly train: number;
    readonly val: number;
    readonly test: number;
  }[];
  readonly dp: {
    readonly delta: number;
    readonly samplingRate: number;
    readonly rounds: number;
    readonly attackClipNorm: number;
    readonly trainingClipNorm: number;
  };
  /** What an attacker with no access to any update scores (the inversion's floor). */
  readonly baselines: {
    /** Another patient's image from the same hospitals offered as the reconstruction. */
    readonly otherPatient: { readonly psnr: number; readonly ssim: number };
    /** The mean of the gallery's images (what public scans alone suggest) as the reconstruction. */
    readonly galleryMean: { readonly psnr: number; readonly ssim: number };
    readonly linkageChance: number;
    readonly miaChance: 0.5;
  };
  readonly settings: readonly SettingResult[];
  readonly totalSeconds: number;
}

interface SettingPlan {
  readonly setting: string;
  readonly sees: string;
  readonly epsilon: number | null;
  readonly mechanism: (clipNorm: number) => Mechanism;
}

function plans(size: PrivacyBenchSize): SettingPlan[] {
  const z = (epsilon: number) => {
    const multiplier = noiseMultiplierFor(epsilon, DP_DELTA, 1, size.rounds);
    if (multiplier === undefined) {
      throw new FlError(
        ErrorCode.InvalidArgument,
        `ε = ${epsilon} cannot be reached in ${size.rounds} rounds at δ = ${DP_DELTA}; use a larger ε`,
      );
    }
    return multiplier;
  };
  const middle = size.epsilons[Math.floor(size.epsilons.length / 2)] as number;
  const dp = (epsilon: number, placement: "central" | "site", secureAggregation: boolean): SettingPlan => ({
    setting: secureAggregation ? "secagg+dp" : `dp-${placement}`,
    sees: secureAggregation
      ? "the sum of the cohort's clipped updates, each with its share of the noise (distributed DP)"
      : placement === "central"
        ? "each site's clipped update, before it adds the noise to the sum (central DP)"
        : "each site's clipped update with the site's own full noise (local DP)",
    epsilon,
    mechanism: (clipNorm) => ({
      secureAggregation,
      dp: { placement, clipNorm, noiseMultiplier: z(epsilon) },
    }),
  });
  return [
    {
      setting: "plain",
      sees: "each site's update",
      epsilon: null,
      mechanism: () => ({ secureAggregation: false }),
    },
    {
      setting: "secagg",
      sees: "only the sum of the cohort's updates",
      epsilon: null,
      mechanism: () => ({ secureAggregation: true }),
    },
    dp(middle, "central", false),
    ...size.epsilons.map((e) => dp(e, "site", false)),
    ...size.epsilons.map((e) => dp(e, "site", true)),
  ];
}

function pixelsOf(set: { images: Float32Array; size: number }, index: number): Float32Array {
  const n = set.size * set.size;
  return set.images.slice(index * n, (index + 1) * n);
}

function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/**
 * The honest-but-curious coordinator against each mechanism: gradient inversion and gallery
 * linkage on what it sees of one site's one-step update, and loss-threshold membership inference
 * on the final model of a short federated training, next to that model's macro-F1.
 */
export async function runPrivacyBench(options: PrivacyBenchOptions): Promise<PrivacyBenchResults> {
  const started = performance.now();
  const { size, say } = options;
  const { tf, name: backend } = await initBackend({ prefer: options.backend, log: say });
  registerSecondOrderGradients();
  const data = {
    kind: "synthetic" as const,
    preset: options.preset,
    imagesPerSite: size.imagesPerSite,
    imageSize: size.imageSize,
    seed: options.seed,
  };
  const siteIds = await listSites(data);
  const sites: SiteSplits[] = [];
  for (const id of siteIds) sites.push(await loadSiteSplits(data, id));
  for (const site of sites) {
    if (site.train.count < size.attackBatch || site.val.count === 0 || site.test.count === 0) {
      throw new FlError(
        ErrorCode.InvalidArgument,
        `site ${site.siteId} has too few images (${site.train.count} train, ${site.val.count} val, ${site.test.count} test); raise imagesPerSite`,
      );
    }
  }
  const spec: SmallCnnSpec = {
    architecture: "small-cnn",
    imageSize: size.imageSize,
    widths: [...size.widths],
    numClasses: 4,
    seed: options.seed,
  };
  say(
    `privacy bench: ${sites.length} sites (${siteIds.join(", ")}), ${size.imageSize} px, small CNN ${size.widths.join("/")}`,
  );

  // The attacked round: every site takes one SGD step from the initial global model on its first
  // `attackBatch` training images; the coordinator targets site 0.
  const model = buildSmallCnn(spec);
  const params = cnnParamsOf(tf, model, spec);
  model.dispose();
  const moving = initialMovingStats(params);
  const px = size.imageSize * size.imageSize;
  const batches = sites.map((site) => ({
    images: site.train.images.slice(0, size.attackBatch * px),
    labels: Array.from(site.train.labels.slice(0, size.attackBatch)),
  }));
  const deltas = batches.map((b) => oneStepUpdate(tf, params, moving, b.images, b.labels, ATTACK_STEP));
  const attackClipNorm = median(deltas.map(norm));
  const target = sites[0] as SiteSplits;
  const truths = Array.from({ length: size.attackBatch }, (_, i) => pixelsOf(target.train, i));
  // Other patients' scans: the held-out ones first, then the other sites' training images.
  const all = (set: SiteSplits["val"]) => Array.from({ length: set.count }, (_, i) => pixelsOf(set, i));
  const gallery = [
    ...sites.flatMap((site) => all(site.val)),
    ...sites.flatMap((site) => all(site.test)),
    ...sites.slice(1).flatMap((site) => all(site.train)),
  ];
  const distractors = gallery.slice(0, size.distractors);
  const candidates = [...truths, ...distractors];
  const truthIndices = truths.map((_, i) => i);
  const meanImage = new Float32Array(px);
  for (const image of distractors)
    image.forEach((v, i) => {
      meanImage[i] = (meanImage[i] as number) + v / distractors.length;
    });
  const galleryMean = {
    psnr: psnr(truths[0] as Float32Array, meanImage, size.imageSize),
    ssim: ssim(truths[0] as Float32Array, meanImage, size.imageSize),
  };
  const otherPatient = {
    psnr: mean(distractors.map((d) => psnr(truths[0] as Float32Array, d, size.imageSize))),
    ssim: mean(distractors.map((d) => ssim(truths[0] as Float32Array, d, size.imageSize))),
  };

  const hyper = {
    epochs: size.localEpochs,
    batchSize: size.batchSize,
    learningRate: size.learningRate,
    // Without it the short training settles on the majority class and macro-F1 says little.
    classWeighting: "inverse-frequency" as const,
    maxStepsPerRound: 0,
  };
  let trainingClipNorm = Number.NaN;
  const results: SettingResult[] = [];
  try {
    for (const plan of plans(size)) {
      const attackMechanism = plan.mechanism(attackClipNorm);
      const view = coordinatorView(deltas, 0, attackMechanism);
      const observation = observe(params, moving, view.update, view.count);
      const inversion = invertGradient(tf, params, observation, size.attackBatch, {
        ...DEFAULT_INVERSION,
        iterations: size.inversionIterations,
        deadline: performance.now() + size.inversionSeconds * 1000,
        seed: options.seed,
      });
      const matched = bestMatch(truths, inversion.images, size.imageSize);
      const trueLabels = batches[0]?.labels ?? [];
      const inferred = [...inversion.labels].sort();
      const labelsCorrect =
        [...trueLabels].sort().filter((l, i) => l === inferred[i]).length / trueLabels.length;
      const recall = linkageRecall(tf, params, observation, candidates, truthIndices, inversion.labels);
      if (plan.setting === "plain") {
        // The clip every DP run uses: the median of the plain run's first-round update norms,
        // which adaptive clipping at quantile 0.5 (Andrew et al. 2021) would settle near.
        const probe = await runFederation(tf, {
          spec,
          sites,
          rounds: size.rounds,
          hyper,
          mechanism: attackMechanism,
          seed: options.seed,
        });
        trainingClipNorm = probe.firstRoundMedianNorm;
        results.push(row(plan, attackMechanism, inversion, matched, labelsCorrect, recall, probe));
      } else {
        const federation = await runFederation(tf, {
          spec,
          sites,
          rounds: size.rounds,
          hyper,
          mechanism: plan.mechanism(trainingClipNorm),
          seed: options.seed,
        });
        results.push(row(plan, attackMechanism, inversion, matched, labelsCorrect, recall, federation));
      }
      const last = results[results.length - 1] as SettingResult;
      say(
        `${last.setting.padEnd(10)} ε ${String(last.epsilon ?? "∞").padStart(3)}: PSNR ${last.inversion.psnr.toFixed(1)} dB, SSIM ${last.inversion.ssim.toFixed(3)}, linkage ${last.linkageRecall.toFixed(2)}, MIA AUC ${last.miaAuc.toFixed(3)}, macro-F1 ${last.macroF1.toFixed(3)}`,
      );
    }
  } finally {
    tf.dispose([...params.tensors]);
  }
  return {
    bench: "privacy",
    quick: options.quick,
    seed: options.seed,
    preset: options.preset,
    backend,
    size,
    model: spec,
    sites: sites.map((s) => ({ id: s.siteId, train: s.train.count, val: s.val.count, test: s.test.count })),
    dp: { delta: DP_DELTA, samplingRate: 1, rounds: size.rounds, attackClipNorm, trainingClipNorm },
    baselines: {
      otherPatient,
      galleryMean,
      linkageChance: size.attackBatch / candidates.length,
      miaChance: 0.5,
    },
    settings: results,
    totalSeconds: (performance.now() - started) / 1000,
  };
}

function row(
  plan: SettingPlan,
  mechanism: Mechanism,
  inversion: ReturnType<typeof invertGradient>,
  matched: ReturnType<typeof bestMatch>,
  labelsCorrect: number,
  recall: number,
  federation: Awaited<ReturnType<typeof runFederation>>,
): SettingResult {
  return {
    setting: plan.setting,
    sees: plan.sees,
    epsilon: plan.epsilon,
    noiseMultiplier: mechanism.dp?.noiseMultiplier ?? null,
    inversion: {
      psnr: mean(matched.map((m) => m.psnr)),
      ssim: mean(matched.map((m) => m.ssim)),
      cosineLoss: inversion.cosineLoss,
      labelsCorrect,
      iterations: inversion.iterationsRun,
      ms: inversion.ms,
    },
    linkageRecall: recall,
    miaAuc: federation.miaAuc,
    macroF1: federation.macroF1,
    trainingMs: federation.ms,
  };
}

function norm(values: Float32Array): number {
  let sum = 0;
  for (const v of values) sum += v * v;
  return Math.sqrt(sum);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
