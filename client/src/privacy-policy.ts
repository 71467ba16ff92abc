import { Buffer } from "node:buffer";
import { createCipheriv } from "node:crypto";
import { z } from "zod";
import { utf8 } from "../../shared/src/crypto/encoding.js";
import type { EvaluationReport, SiteInfo } from "../../shared/src/fl/messages.js";
import { isSiteNoise } from "../../shared/src/fl/stages/dp-site-noise.js";
import type { StageConfig } from "../../shared/src/fl/stages/index.js";
import type { TaskSpec, TrainTask } from "../../shared/src/fl/task.js";
import { gaussianNoise, type RandomBytes } from "../../shared/src/privacy/gaussian-noise.js";
import {
  DEFAULT_RDP_ORDERS,
  rdpToEpsilon,
  sampledGaussianRdp,
} from "../../shared/src/privacy/rdp-accountant.js";
import { hashFields } from "../../shared/src/secagg/mask-stream.js";
import { sharingRule } from "../../shared/src/weights/sharing.js";

/**
 * A hospital's own privacy policy: what tasks it accepts and what it lets leave the site. The
 * coordinator only promises things (the task's `privacy` block); the site checks the promise
 * before it touches any data and refuses a task that breaks its policy, with a reason the
 * coordinator records. Everything here is pure; node.ts applies it. The defaults refuse nothing
 * and report everything, as a client without a policy did.
 */
export const PrivacyPolicySchema = z
  .strictObject({
    /** Smallest cohort (sites sent the round's task) this site trains in; 0 accepts any. */
    minCohort: z.number().int().min(0).default(0),
    /**
     * Glob patterns of the tensors this site will ever upload (`*` any run of characters, `?` one,
     * as in a phase's `local:`). A task whose shared tensors are not all matched is refused.
     */
    share: z
      .array(z.string().min(1, "an empty tensor pattern matches nothing"))
      .min(1, 'the share list names no tensor, so every task would be refused; list patterns, or leave "*"')
      .default(["*"]),
    maxEpochs: z.number().int().min(1).optional(),
    maxBatchSize: z.number().int().min(1).optional(),
    /** Largest input side (pixels) of the task's model. */
    maxImageSize: z.number().int().min(1).optional(),
    /** What the site declares at join about its training labels. */
    classCounts: z.enum(["exact", "noised", "none"]).default("exact"),
    /** With `classCounts: noised`: σ of the Gaussian noise added to each count. */
    classCountSigma: z.number().positive().optional(),
    /**
     * Evaluations: `full` as today; `pooled` only what the coordinator sums across sites (the
     * confusion matrix, the score statistics, additive segmentation sums), not the site's own
     * scalar metrics; `none` refuses evaluation tasks.
     */
    evaluation: z.enum(["full", "pooled", "none"]).default("full"),
    /** Training metrics sent with each update: all, only `loss`, or none. */
    trainingMetrics: z.enum(["full", "loss", "none"]).default("full"),
    /** Refuse rounds without secure aggregation. */
    requireSecureAggregation: z.boolean().default(false),
    /** Refuse rounds without differential privacy; `distributed`: the sites must add the noise. */
    requireDp: z
      .union([z.boolean(), z.literal("distributed")], {
        error: 'requireDp must be true, false or "distributed"',
      })
      .default(false),
    /** Largest total ε (the accountant's, after the round) this site accepts. */
    maxEpsilon: z.number().positive().optional(),
  })
  .superRefine((policy, ctx) => {
    if (policy.classCounts === "noised" && policy.classCountSigma === undefined)
      ctx.addIssue({
        code: "custom",
        path: ["classCountSigma"],
        message:
          "classCounts: noised needs classCountSigma, the standard deviation of the Gaussian noise added to each count (e.g. 5)",
      });
    if (policy.classCounts !== "noised" && policy.classCountSigma !== undefined)
      ctx.addIssue({
        code: "custom",
        path: ["classCountSigma"],
        message: `classCountSigma is the noise of classCounts: noised, but classCounts is ${policy.classCounts}; set classCounts: noised or remove classCountSigma`,
      });
    if (policy.maxEpsilon !== undefined && policy.requireDp === false)
      ctx.addIssue({
        code: "custom",
        path: ["maxEpsilon"],
        message:
          'maxEpsilon bounds the ε of differential privacy, which requireDp: false does not ask for; set requireDp: true (or "distributed") too',
      });
  });
export type PrivacyPolicy = z.infer<typeof PrivacyPolicySchema>;
export type PrivacyPolicyInput = z.input<typeof PrivacyPolicySchema>;

/** Today's behaviour: nothing refused, everything reported. */
export const DEFAULT_PRIVACY_POLICY: PrivacyPolicy = PrivacyPolicySchema.parse({});

/** How a refusal reads in the coordinator's record (after its error code). */
export const REFUSAL_PREFIX = "refused by this site's privacy policy: ";

/** Tensor names a refusal lists before "and N more": the coordinator keeps 500 characters of it. */
const LISTED_TENSORS = 5;

/**
 * The rules a task breaks that its spec alone shows (before the model is downloaded or any data
 * read); empty when the policy accepts it. Evaluation tasks have no cohort: their reports are not
 * aggregated, so only the evaluation and image-size rules apply.
 */
export function taskRefusals(policy: PrivacyPolicy, task: TaskSpec): string[] {
  const reasons: string[] = [];
  const imageSize = task.spec.model.imageSize;
  if (policy.maxImageSize !== undefined && imageSize > policy.maxImageSize)
    reasons.push(
      `the task's model takes ${imageSize}×${imageSize} images; this site accepts at most ${policy.maxImageSize}×${policy.maxImageSize} (privacy.maxImageSize)`,
    );
  if (task.kind === "evaluate") {
    if (policy.evaluation === "none")
      reasons.unshift("this site reports no evaluations (privacy.evaluation: none)");
    return reasons;
  }
  return [...trainRefusals(policy, task.spec), ...reasons];
}

function trainRefusals(policy: PrivacyPolicy, spec: TrainTask): string[] {
  const reasons: string[] = [];
  const { cohort, secureAggregation, dp } = spec.privacy;
  if (policy.minCohort > 0 && cohort < policy.minCohort)
    reasons.push(
      cohort === 0
        ? `the coordinator does not say how many sites this round's update is aggregated with; this site joins only rounds of at least ${policy.minCohort} (privacy.minCohort)`
        : `the round's cohort is ${cohort} site${cohort === 1 ? "" : "s"}; this site joins only rounds of at least ${policy.minCohort} (privacy.minCohort)`,
    );
  if (policy.requireSecureAggregation && !secureAggregation)
    reasons.push(
      "the round has no secure aggregation, so the coordinator would see this site's update alone (privacy.requireSecureAggregation)",
    );
  if (policy.requireDp !== false && dp === undefined)
    reasons.push("the round has no differential privacy (privacy.requireDp)");
  if (policy.requireDp === "distributed" && dp !== undefined && dp.mode !== "distributed")
    reasons.push(
      `the round's differential privacy is ${dp.mode} (the coordinator adds the noise and sees the un-noised sum); this site requires distributed noise (privacy.requireDp: distributed)`,
    );
  if (dp?.mode === "distributed") reasons.push(...distributedNoiseRefusals(spec));
  if (policy.maxEpsilon !== undefined && dp !== undefined && dp.epsilonAfter > policy.maxEpsilon)
    reasons.push(
      `the round would bring ε to ${formatEpsilon(dp.epsilonAfter)} (δ = ${dp.delta}); this site allows at most ${policy.maxEpsilon} (privacy.maxEpsilon)`,
    );
  const { epochs, batchSize } = spec.train;
  if (policy.maxEpochs !== undefined && epochs > policy.maxEpochs)
    reasons.push(
      `the task asks for ${epochs} local epochs; this site runs at most ${policy.maxEpochs} (privacy.maxEpochs)`,
    );
  if (policy.maxBatchSize !== undefined && batchSize > policy.maxBatchSize)
    reasons.push(
      `the task asks for batches of ${batchSize}; this site accepts at most ${policy.maxBatchSize} (privacy.maxBatchSize)`,
    );
  return reasons;
}

/**
 * A round that promises distributed DP must be one where this site's noise makes the promise
 * true: masked (secure aggregation, or the coordinator sees the lightly noised update alone),
 * with a noise stage of at least the accountant's σ, clipping to at most its C. Checked whatever
 * the policy requires: the ε the task states is what `maxEpsilon` is compared with.
 */
function distributedNoiseRefusals(spec: TrainTask): string[] {
  const { dp, secureAggregation } = spec.privacy;
  if (!dp) return [];
  const reasons: string[] = [];
  if (!secureAggregation)
    reasons.push(
      "the round promises distributed DP without secure aggregation: the coordinator would see this site's update with only its share of the noise",
    );
  const noise = spec.pipeline.find(isSiteNoise);
  if (!noise)
    reasons.push(
      "the round promises distributed DP but its pipeline adds no noise at this site (no dp-site-noise stage)",
    );
  else if (noise.noiseMultiplier < dp.noiseMultiplier || noise.clipNorm > dp.clipNorm)
    reasons.push(
      `the round's noise stage (σ ${noise.noiseMultiplier}, C ${noise.clipNorm}) is weaker than the ε it states was computed for (σ ${dp.noiseMultiplier}, C ${dp.clipNorm})`,
    );
  return reasons;
}

/** ε to 3 significant digits, but never rounded down onto the limit it is compared with. */
function formatEpsilon(epsilon: number): string {
  const rounded = Number(epsilon.toPrecision(3));
  return String(rounded < epsilon ? Number(epsilon.toPrecision(6)) : rounded);
}

/**
 * The rule a training task breaks once its model's tensors are known: tensors it would upload
 * that the share list does not name. Uses the same glob matcher as a phase's `local:` patterns.
 */
export function tensorRefusals(policy: PrivacyPolicy, sharedTensors: readonly string[]): string[] {
  const allowed = sharingRule(policy.share);
  const outside = sharedTensors.filter((name) => allowed(name) !== "local");
  if (outside.length === 0) return [];
  const listed = outside.slice(0, LISTED_TENSORS).join(", ");
  const more = outside.length > LISTED_TENSORS ? ` and ${outside.length - LISTED_TENSORS} more` : "";
  return [
    `the task would upload ${outside.length} tensor${outside.length === 1 ? "" : "s"} outside this site's share list (privacy.share: ${JSON.stringify(policy.share)}): ${listed}${more}`,
  ];
}

/** The one-line reason a refused task is reported with. */
export function refusalReason(reasons: readonly string[]): string {
  return `${REFUSAL_PREFIX}${reasons.join("; ")}`;
}

/**
 * Metrics a stage of the round's pipeline needs from every update, sent whatever the policy:
 * differential privacy's coordinator stage refuses an update without the site's clip bit
 * (dp-clip.ts), and adaptive clipping averages it. One bit per round, which the coordinator of a
 * central-DP round is trusted with anyway.
 */
const REQUIRED_BY_STAGE: Readonly<Record<string, readonly string[]>> = { "dp-clip": ["clip.clipped"] };

/** The training metrics an update carries under the policy, for a task with this pipeline. */
export function trainingMetricsToSend(
  policy: PrivacyPolicy,
  metrics: Readonly<Record<string, number>>,
  pipeline: readonly StageConfig[] = [],
): Record<string, number> {
  if (policy.trainingMetrics === "full") return { ...metrics };
  const kept = new Set(pipeline.flatMap((stage) => REQUIRED_BY_STAGE[stage.stage] ?? []));
  if (policy.trainingMetrics === "loss") kept.add("loss");
  return Object.fromEntries(Object.entries(metrics).filter(([key]) => kept.has(key)));
}

/**
 * Metrics the coordinator sums over sites rather than reads per site (report.ts pools the
 * segmentation counts this way); the others (accuracy, exact per-class AUC from unbinned
 * scores, …) are the site's own summaries.
 */
const POOLED_METRIC_PREFIXES = ["seg."] as const;

type EvaluationParts = Pick<EvaluationReport, "confusion" | "metrics" | "statistics">;

/**
 * What an evaluation report carries under `evaluation: pooled`: the confusion matrix and the
 * statistics (additive, and required by the coordinator's checks and pooling) and the additive
 * metrics; the site's own scalar metrics stay here. `full` sends everything; `none` never gets
 * here (the task is refused).
 */
export function evaluationToSend<T extends EvaluationParts>(policy: PrivacyPolicy, report: T): T {
  if (policy.evaluation !== "pooled") return report;
  const metrics = Object.fromEntries(
    Object.entries(report.metrics).filter(([key]) => POOLED_METRIC_PREFIXES.some((p) => key.startsWith(p))),
  );
  return { ...report, metrics };
}

/** δ at which the class-count noise's ε is stated. */
export const CLASS_COUNT_DELTA = 1e-5;

/**
 * ε at δ of the Gaussian mechanism on the class counts, for neighbouring training sets that
 * differ in one image's label (two counts move by one: L2 sensitivity √2). The total stays
 * exact (every update's numExamples reveals it anyway), so adding or removing an image is not
 * what the noise hides; the class mix is. One release: the noise is drawn once per set of counts.
 */
export function classCountEpsilon(sigma: number, delta = CLASS_COUNT_DELTA): number {
  const rdp = sampledGaussianRdp(1, sigma / Math.SQRT2, DEFAULT_RDP_ORDERS);
  return rdpToEpsilon(rdp, DEFAULT_RDP_ORDERS, delta).epsilon;
}

/**
 * What the site declares at join. `exact`: its counts. `noised`: each count plus N(0, σ²) noise,
 * rounded and clamped at 0 (post-processing, which costs no privacy). `none`: no class counts.
 * The coordinator's one use of the counts is to bound the training examples an update claims
 * (their sum plus the unlabelled count), so the declared total never falls below the true one:
 * a shortfall is declared as unlabelled images.
 */
export function declaredSiteInfo(policy: PrivacyPolicy, info: SiteInfo, random: RandomBytes): SiteInfo {
  if (policy.classCounts === "exact") return info;
  const labelled = info.trainClassCounts.reduce((a, b) => a + b, 0);
  if (policy.classCounts === "none")
    return { ...info, trainClassCounts: [], trainUnlabelledCount: info.trainUnlabelledCount + labelled };
  const noise = new Float64Array(info.trainClassCounts.length);
  gaussianNoise(noise, policy.classCountSigma ?? 0, random);
  const noised = info.trainClassCounts.map((count, c) =>
    Math.max(0, Math.round(count + (noise[c] as number))),
  );
  const shortfall = Math.max(0, labelled - noised.reduce((a, b) => a + b, 0));
  return { ...info, trainClassCounts: noised, trainUnlabelledCount: info.trainUnlabelledCount + shortfall };
}

/**
 * The noise source of the class counts: ChaCha20 keyed by a hash of this site's secret key, the
 * federation and the true counts. The same counts always get the same noise, so a coordinator
 * that sees the site join again and again (restarts, network cuts) sees one release, not many
 * independent draws it could average away; the key keeps the noise unpredictable to it.
 */
export function classCountNoiseSource(
  secretKey: Uint8Array,
  federationId: string,
  counts: readonly number[],
): RandomBytes {
  const seed = hashFields("fl.v1/class-count-noise", [
    secretKey,
    utf8(federationId),
    utf8(JSON.stringify(counts)),
  ]);
  const cipher = createCipheriv("chacha20", seed, Buffer.alloc(16));
  return (out) => {
    const bytes = cipher.update(Buffer.alloc(out.length * 4));
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < out.length; i++) out[i] = view.getUint32(i * 4, true);
  };
}

/** One line for the site's log: what the policy changes, so an operator sees it at start. */
export function describePolicy(policy: PrivacyPolicy): string | undefined {
  const parts: string[] = [];
  if (policy.minCohort > 0) parts.push(`rounds of at least ${policy.minCohort} sites`);
  if (policy.share.length !== 1 || policy.share[0] !== "*")
    parts.push(`shares only ${policy.share.join(", ")}`);
  if (policy.maxEpochs !== undefined) parts.push(`at most ${policy.maxEpochs} epochs`);
  if (policy.maxBatchSize !== undefined) parts.push(`batches of at most ${policy.maxBatchSize}`);
  if (policy.maxImageSize !== undefined) parts.push(`images of at most ${policy.maxImageSize} pixels`);
  if (policy.requireSecureAggregation) parts.push("secure aggregation required");
  if (policy.requireDp !== false)
    parts.push(
      `${policy.requireDp === "distributed" ? "distributed " : ""}differential privacy required${policy.maxEpsilon === undefined ? "" : ` with ε ≤ ${policy.maxEpsilon}`}`,
    );
  if (policy.classCounts === "noised")
    parts.push(
      `class counts noised (Gaussian, σ = ${policy.classCountSigma}; ε = ${classCountEpsilon(policy.classCountSigma ?? 1).toFixed(2)} at δ = ${CLASS_COUNT_DELTA} for one image's label)`,
    );
  if (policy.classCounts === "none") parts.push("no class counts");
  if (policy.evaluation !== "full") parts.push(`evaluations: ${policy.evaluation}`);
  if (policy.trainingMetrics !== "full") parts.push(`training metrics: ${policy.trainingMetrics}`);
  return parts.length === 0 ? undefined : `privacy policy: ${parts.join("; ")}`;
}
