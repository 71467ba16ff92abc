import { describe, expect, it } from "vitest";
import {
  CLASS_COUNT_DELTA,
  classCountEpsilon,
  classCountNoiseSource,
  DEFAULT_PRIVACY_POLICY,
  declaredSiteInfo,
  describePolicy,
  evaluationToSend,
  type PrivacyPolicy,
  type PrivacyPolicyInput,
  PrivacyPolicySchema,
  REFUSAL_PREFIX,
  refusalReason,
  taskRefusals,
  tensorRefusals,
  trainingMetricsToSend,
} from "../../../client/src/privacy-policy.js";
import type { SiteInfo } from "../../../shared/src/fl/messages.js";
import { DEFAULT_MODEL_SPEC } from "../../../shared/src/fl/model-spec.js";
import {
  buildEvaluateTask,
  buildTrainTask,
  type TaskSpec,
  type TrainTaskInput,
} from "../../../shared/src/fl/task.js";
import { gaussianNoise, type RandomBytes } from "../../../shared/src/privacy/gaussian-noise.js";

function policy(input: PrivacyPolicyInput = {}): PrivacyPolicy {
  return PrivacyPolicySchema.parse(input);
}

/** The problems a policy config is refused for, as `path: message`. */
function problems(input: unknown): string[] {
  const result = PrivacyPolicySchema.safeParse(input);
  if (result.success) return [];
  return result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
}

function train(overrides: Partial<TrainTaskInput> = {}): TaskSpec {
  return {
    kind: "train",
    spec: buildTrainTask({
      model: DEFAULT_MODEL_SPEC,
      task: "classify",
      train: { epochs: 2, batchSize: 16 },
      seed: 1,
      ...overrides,
    } as TrainTaskInput),
  };
}

function dp(epsilonAfter: number, mode: "central" | "distributed" = "distributed") {
  return { mode, noiseMultiplier: 1.1, clipNorm: 1, delta: 1e-5, epsilonBefore: 0.5, epsilonAfter };
}

/** A distributed-DP round as the coordinator sends it: masked, with the site's noise stage. */
function masked(epsilonAfter: number, noise = { noiseMultiplier: 1.1, clipNorm: 1 }): TaskSpec {
  return train({
    privacy: { cohort: 3, secureAggregation: true, dp: dp(epsilonAfter) },
    pipeline: [{ stage: "dp-site-noise", ...noise, survivors: 3, cohort: 3 }],
  });
}

const evaluate: TaskSpec = { kind: "evaluate", spec: buildEvaluateTask({ model: DEFAULT_MODEL_SPEC }) };
/** DEFAULT_MODEL_SPEC's input side, read off the spec rather than assumed. */
const IMAGE = DEFAULT_MODEL_SPEC.imageSize;

describe("the default policy", () => {
  it("refuses nothing and reports everything, as a client without a policy did", () => {
    const all = train({
      train: { epochs: 1000, batchSize: 4096 },
      privacy: { cohort: 1, secureAggregation: false },
    });
    expect(taskRefusals(DEFAULT_PRIVACY_POLICY, all)).toEqual([]);
    expect(taskRefusals(DEFAULT_PRIVACY_POLICY, evaluate)).toEqual([]);
    expect(tensorRefusals(DEFAULT_PRIVACY_POLICY, ["conv1.kernel", "dense.bias"])).toEqual([]);
    const metrics = { loss: 0.5, accuracy: 0.75, "clip.norm": 2 };
    expect(trainingMetricsToSend(DEFAULT_PRIVACY_POLICY, metrics)).toEqual(metrics);
    const report = { confusion: [[1]], metrics: { accuracy: 1 } };
    expect(evaluationToSend(DEFAULT_PRIVACY_POLICY, report)).toBe(report);
    const info: SiteInfo = {
      trainClassCounts: [3, 4],
      trainUnlabelledCount: 1,
      validationCount: 2,
      testCount: 2,
      backend: "cpu",
      clientVersion: "t",
    };
    expect(declaredSiteInfo(DEFAULT_PRIVACY_POLICY, info, () => {})).toBe(info);
    expect(describePolicy(DEFAULT_PRIVACY_POLICY)).toBeUndefined();
  });
});

describe("the rules a task is refused for, and their reasons", () => {
  it("minCohort: a smaller cohort, and a task that does not state one", () => {
    const p = policy({ minCohort: 3 });
    expect(taskRefusals(p, train({ privacy: { cohort: 2 } }))).toEqual([
      "the round's cohort is 2 sites; this site joins only rounds of at least 3 (privacy.minCohort)",
    ]);
    expect(taskRefusals(p, train({ privacy: { cohort: 1 } }))).toEqual([
      "the round's cohort is 1 site; this site joins only rounds of at least 3 (privacy.minCohort)",
    ]);
    expect(taskRefusals(p, train())).toEqual([
      "the coordinator does not say how many sites this round's update is aggregated with; this site joins only rounds of at least 3 (privacy.minCohort)",
    ]);
    expect(taskRefusals(p, train({ privacy: { cohort: 3 } }))).toEqual([]);
    expect(taskRefusals(p, evaluate)).toEqual([]);
  });

  it("requireSecureAggregation", () => {
    const p = policy({ requireSecureAggregation: true });
    expect(taskRefusals(p, train({ privacy: { cohort: 5 } }))).toEqual([
      "the round has no secure aggregation, so the coordinator would see this site's update alone (privacy.requireSecureAggregation)",
    ]);
    expect(taskRefusals(p, train({ privacy: { cohort: 5, secureAggregation: true } }))).toEqual([]);
  });

  it("requireDp and maxEpsilon against the accountant's ε after the round", () => {
    const any = policy({ requireDp: true, maxEpsilon: 3 });
    expect(taskRefusals(any, train())).toEqual(["the round has no differential privacy (privacy.requireDp)"]);
    expect(taskRefusals(any, masked(3))).toEqual([]);
    expect(taskRefusals(any, train({ privacy: { dp: dp(2.5, "central") } }))).toEqual([]);
    expect(taskRefusals(any, masked(3.4567))).toEqual([
      "the round would bring ε to 3.46 (δ = 0.00001); this site allows at most 3 (privacy.maxEpsilon)",
    ]);
    // Rounded to 3 digits it would read 3, the limit itself: more digits say why it is refused.
    expect(taskRefusals(any, masked(3.0004))).toEqual([
      "the round would bring ε to 3.0004 (δ = 0.00001); this site allows at most 3 (privacy.maxEpsilon)",
    ]);
    const distributed = policy({ requireDp: "distributed" });
    expect(taskRefusals(distributed, train({ privacy: { dp: dp(100, "central") } }))).toEqual([
      "the round's differential privacy is central (the coordinator adds the noise and sees the un-noised sum); this site requires distributed noise (privacy.requireDp: distributed)",
    ]);
    expect(taskRefusals(distributed, masked(100))).toEqual([]);
  });

  it("a distributed-DP round whose noise would not make its ε true, whatever the policy", () => {
    const none = policy();
    expect(taskRefusals(none, train({ privacy: { cohort: 3, dp: dp(1) } }))).toEqual([
      "the round promises distributed DP without secure aggregation: the coordinator would see this site's update with only its share of the noise",
      "the round promises distributed DP but its pipeline adds no noise at this site (no dp-site-noise stage)",
    ]);
    expect(taskRefusals(none, masked(1, { noiseMultiplier: 1, clipNorm: 1 }))).toEqual([
      "the round's noise stage (σ 1, C 1) is weaker than the ε it states was computed for (σ 1.1, C 1)",
    ]);
    expect(taskRefusals(none, masked(1, { noiseMultiplier: 1.1, clipNorm: 2 }))).toHaveLength(1);
    expect(taskRefusals(none, masked(1, { noiseMultiplier: 2, clipNorm: 0.5 }))).toEqual([]);
  });

  it("maxEpochs, maxBatchSize and maxImageSize", () => {
    const p = policy({ maxEpochs: 1, maxBatchSize: 8, maxImageSize: IMAGE - 1 });
    expect(taskRefusals(p, train())).toEqual([
      "the task asks for 2 local epochs; this site runs at most 1 (privacy.maxEpochs)",
      "the task asks for batches of 16; this site accepts at most 8 (privacy.maxBatchSize)",
      `the task's model takes ${IMAGE}×${IMAGE} images; this site accepts at most ${IMAGE - 1}×${IMAGE - 1} (privacy.maxImageSize)`,
    ]);
    expect(taskRefusals(policy({ maxEpochs: 2, maxBatchSize: 16, maxImageSize: IMAGE }), train())).toEqual(
      [],
    );
    // An evaluation builds the same model on the same images: the image size applies to it too.
    expect(taskRefusals(p, evaluate)).toEqual([
      `the task's model takes ${IMAGE}×${IMAGE} images; this site accepts at most ${IMAGE - 1}×${IMAGE - 1} (privacy.maxImageSize)`,
    ]);
  });

  it("evaluation: none refuses evaluation tasks, not training", () => {
    const p = policy({ evaluation: "none" });
    expect(taskRefusals(p, evaluate)).toEqual([
      "this site reports no evaluations (privacy.evaluation: none)",
    ]);
    expect(taskRefusals(p, train())).toEqual([]);
  });

  it("share: every tensor the task would upload must match a pattern, with the glob rules of local:", () => {
    const p = policy({ share: ["conv?.*", "dense.bias"] });
    expect(tensorRefusals(p, ["conv1.kernel", "conv2.bias", "dense.bias"])).toEqual([]);
    expect(tensorRefusals(p, ["conv1.kernel", "conv10.kernel", "dense.kernel"])).toEqual([
      'the task would upload 2 tensors outside this site\'s share list (privacy.share: ["conv?.*","dense.bias"]): conv10.kernel, dense.kernel',
    ]);
    const many = Array.from({ length: 8 }, (_, i) => `head${i}`);
    expect(tensorRefusals(p, many)).toEqual([
      'the task would upload 8 tensors outside this site\'s share list (privacy.share: ["conv?.*","dense.bias"]): head0, head1, head2, head3, head4 and 3 more',
    ]);
    expect(tensorRefusals(policy({ share: ["x"] }), ["y"])[0]).toContain("1 tensor outside");
  });

  it("names every rule a task breaks, in one line", () => {
    const p = policy({ minCohort: 4, requireSecureAggregation: true, maxEpochs: 1 });
    const reasons = taskRefusals(p, train({ privacy: { cohort: 2 } }));
    expect(reasons).toHaveLength(3);
    expect(refusalReason(reasons)).toBe(
      "refused by this site's privacy policy: the round's cohort is 2 sites; this site joins only rounds of at least 4 (privacy.minCohort); the round has no secure aggregation, so the coordinator would see this site's update alone (privacy.requireSecureAggregation); the task asks for 2 local epochs; this site runs at most 1 (privacy.maxEpochs)",
    );
    expect(refusalReason(["x"]).startsWith(REFUSAL_PREFIX)).toBe(true);
  });
});

describe("what leaves the site", () => {
  const metrics = { loss: 0.25, accuracy: 0.5, steps: 3, "clip.norm": 1.5, "clip.clipped": 1 };

  it("training metrics: full, loss only, none", () => {
    expect(trainingMetricsToSend(policy({ trainingMetrics: "full" }), metrics)).toEqual(metrics);
    expect(trainingMetricsToSend(policy({ trainingMetrics: "loss" }), metrics)).toEqual({ loss: 0.25 });
    expect(trainingMetricsToSend(policy({ trainingMetrics: "loss" }), { accuracy: 1 })).toEqual({});
    expect(trainingMetricsToSend(policy({ trainingMetrics: "none" }), metrics)).toEqual({});
  });

  it("training metrics: the clip bit a DP round's coordinator stage requires is sent under every setting", () => {
    const pipeline = [{ stage: "dp-clip" as const, clipNorm: 1 }];
    expect(trainingMetricsToSend(policy({ trainingMetrics: "none" }), metrics, pipeline)).toEqual({
      "clip.clipped": 1,
    });
    expect(trainingMetricsToSend(policy({ trainingMetrics: "loss" }), metrics, pipeline)).toEqual({
      loss: 0.25,
      "clip.clipped": 1,
    });
    // clip-l2 alone is the site's own choice of the phase: its metrics follow the policy.
    expect(
      trainingMetricsToSend(policy({ trainingMetrics: "none" }), metrics, [{ stage: "clip-l2", maxNorm: 1 }]),
    ).toEqual({});
  });

  it("evaluation: pooled keeps the matrix, the statistics and the additive segmentation sums", () => {
    const statistics = { bins: 2 } as never;
    const report = {
      taskId: "t",
      confusion: [
        [2, 0],
        [1, 3],
      ],
      metrics: { accuracy: 5 / 6, macroAuc: 0.9, "auc.normal": 0.8, "seg.images": 6, "seg.diceSum": 4.5 },
      statistics,
    };
    expect(evaluationToSend(policy({ evaluation: "pooled" }), report)).toEqual({
      taskId: "t",
      confusion: report.confusion,
      metrics: { "seg.images": 6, "seg.diceSum": 4.5 },
      statistics,
    });
    expect(evaluationToSend(policy({ evaluation: "full" }), report)).toEqual(report);
  });

  const info: SiteInfo = {
    trainClassCounts: [30, 2, 0, 9],
    trainUnlabelledCount: 5,
    validationCount: 7,
    testCount: 8,
    backend: "cpu",
    clientVersion: "t",
  };

  it("class counts: none declares the whole training set as one uncounted total", () => {
    expect(declaredSiteInfo(policy({ classCounts: "none" }), info, () => {})).toEqual({
      ...info,
      trainClassCounts: [],
      trainUnlabelledCount: 5 + 41,
    });
  });

  it("class counts: noised adds the Gaussian draw, rounds, clamps at 0, and declares a shortfall as unlabelled", () => {
    const p = policy({ classCounts: "noised", classCountSigma: 3 });
    const source = () => classCountNoiseSource(new Uint8Array(64).fill(7), "fed", info.trainClassCounts);
    const declared = declaredSiteInfo(p, info, source());
    // The same draw, by hand: σ·z from the same stream, then round and clamp.
    const z = new Float64Array(4);
    gaussianNoise(z, 3, source());
    const expected = info.trainClassCounts.map((n, c) => Math.max(0, Math.round(n + (z[c] as number))));
    expect(declared.trainClassCounts).toEqual(expected);
    const shortfall = Math.max(0, 41 - expected.reduce((a, b) => a + b, 0));
    expect(declared.trainUnlabelledCount).toBe(5 + shortfall);
    expect(
      declared.trainClassCounts.reduce((a, b) => a + b, 0) + declared.trainUnlabelledCount,
    ).toBeGreaterThanOrEqual(46);
    expect({ ...declared, trainClassCounts: [], trainUnlabelledCount: 0 }).toEqual({
      ...info,
      trainClassCounts: [],
      trainUnlabelledCount: 0,
    });
  });

  it("class counts: a shortfall below the true total is made up, an excess is not", () => {
    const p = policy({ classCounts: "noised", classCountSigma: 1 });
    // A source of all-ones words gives the same uniform for both Box–Muller inputs; whatever it
    // draws, the declared total may not fall below the true one.
    const constant =
      (word: number): RandomBytes =>
      (out) =>
        out.fill(word);
    for (const word of [0, 1 << 20, 0x7fffffff, 0xffffffff]) {
      const declared = declaredSiteInfo(p, info, constant(word));
      const sum = declared.trainClassCounts.reduce((a, b) => a + b, 0);
      expect(declared.trainClassCounts.every((n) => Number.isSafeInteger(n) && n >= 0)).toBe(true);
      expect(declared.trainUnlabelledCount).toBe(5 + Math.max(0, 41 - sum));
    }
  });

  it("class-count noise: the same site and counts get the same draw; others an independent one of std σ", () => {
    const key = new Uint8Array(64).fill(1);
    const draw = (k: Uint8Array, fed: string, counts: number[]) => {
      const out = new Uint32Array(8);
      classCountNoiseSource(k, fed, counts)(out);
      return Array.from(out);
    };
    expect(draw(key, "fed", [1, 2])).toEqual(draw(key, "fed", [1, 2]));
    expect(draw(key, "fed", [1, 2])).not.toEqual(draw(key, "other", [1, 2]));
    expect(draw(key, "fed", [1, 2])).not.toEqual(draw(key, "fed", [1, 3]));
    expect(draw(key, "fed", [1, 2])).not.toEqual(draw(new Uint8Array(64).fill(2), "fed", [1, 2]));

    // Many sites (keys) with the same large counts: the declared counts scatter with std ≈ σ
    // (rounding adds 1/12 to the variance) around the truth.
    const sigma = 4;
    const p = policy({ classCounts: "noised", classCountSigma: sigma });
    const many = { ...info, trainClassCounts: [1000, 1000, 1000, 1000] };
    const errors: number[] = [];
    for (let s = 0; s < 1000; s++) {
      const k = new Uint8Array(64);
      new DataView(k.buffer).setUint32(0, s);
      const declared = declaredSiteInfo(p, many, classCountNoiseSource(k, "fed", many.trainClassCounts));
      for (const n of declared.trainClassCounts) errors.push(n - 1000);
    }
    const mean = errors.reduce((a, b) => a + b, 0) / errors.length;
    const sd = Math.sqrt(errors.reduce((a, e) => a + (e - mean) ** 2, 0) / (errors.length - 1));
    expect(Math.abs(mean)).toBeLessThan((4 * sigma) / Math.sqrt(errors.length));
    expect(sd).toBeGreaterThan(Math.sqrt(sigma ** 2 + 1 / 12) * 0.95);
    expect(sd).toBeLessThan(Math.sqrt(sigma ** 2 + 1 / 12) * 1.05);
  });

  it("class-count ε is an upper bound on the exact Gaussian mechanism's, and not a loose one", () => {
    // The exact privacy profile of the Gaussian mechanism (Balle & Wang 2018, Thm. 8) for L2
    // sensitivity Δ = √2 (one image's label moves two counts): δ(ε) = Φ(Δ/2σ − εσ/Δ) −
    // e^ε Φ(−Δ/2σ − εσ/Δ), with Φ by numerical integration of the normal density.
    const phi = (x: number): number => {
      // ∫_{-12}^{x} of the density by Simpson's rule on 20 000 intervals.
      const a = -12;
      if (x <= a) return 0;
      const n = 20_000;
      const h = (x - a) / n;
      const f = (t: number) => Math.exp((-t * t) / 2) / Math.sqrt(2 * Math.PI);
      let sum = f(a) + f(x);
      for (let i = 1; i < n; i++) sum += (i % 2 === 1 ? 4 : 2) * f(a + i * h);
      return (sum * h) / 3;
    };
    const delta = (epsilon: number, sigma: number) => {
      const d = Math.SQRT2;
      return (
        phi(d / (2 * sigma) - (epsilon * sigma) / d) -
        Math.exp(epsilon) * phi(-d / (2 * sigma) - (epsilon * sigma) / d)
      );
    };
    for (const sigma of [2, 5, 10]) {
      const epsilon = classCountEpsilon(sigma);
      expect(delta(epsilon, sigma)).toBeLessThanOrEqual(CLASS_COUNT_DELTA);
      // RDP over integer orders is within 25 % of the exact ε here.
      expect(delta(epsilon * 0.75, sigma)).toBeGreaterThan(CLASS_COUNT_DELTA);
    }
  });
});

describe("the policy's config", () => {
  it("defaults to today's behaviour", () => {
    expect(PrivacyPolicySchema.parse({})).toEqual({
      minCohort: 0,
      share: ["*"],
      classCounts: "exact",
      evaluation: "full",
      trainingMetrics: "full",
      requireSecureAggregation: false,
      requireDp: false,
    });
  });

  it("refuses contradictions and bad values, saying what to do", () => {
    expect(problems({ classCounts: "noised" })).toEqual([
      "classCountSigma: classCounts: noised needs classCountSigma, the standard deviation of the Gaussian noise added to each count (e.g. 5)",
    ]);
    expect(problems({ classCountSigma: 2 })).toEqual([
      "classCountSigma: classCountSigma is the noise of classCounts: noised, but classCounts is exact; set classCounts: noised or remove classCountSigma",
    ]);
    expect(problems({ maxEpsilon: 3 })).toEqual([
      'maxEpsilon: maxEpsilon bounds the ε of differential privacy, which requireDp: false does not ask for; set requireDp: true (or "distributed") too',
    ]);
    expect(problems({ requireDp: "yes" })).toEqual([
      'requireDp: requireDp must be true, false or "distributed"',
    ]);
    expect(problems({ share: [] })).toEqual([
      'share: the share list names no tensor, so every task would be refused; list patterns, or leave "*"',
    ]);
    expect(problems({ share: [""] })).toEqual(["share.0: an empty tensor pattern matches nothing"]);
    expect(problems({ maxEpoch: 2 })[0]).toContain('Unrecognized key: "maxEpoch"');
    expect(problems({ minCohort: -1 })).toHaveLength(1);
    expect(problems({ classCounts: "rounded" })[0]).toMatch(/^classCounts: /);
    expect(problems({ classCounts: "noised", classCountSigma: 5, requireDp: true, maxEpsilon: 1 })).toEqual(
      [],
    );
  });

  it("describes a policy in the site's log, with the class-count noise's ε", () => {
    expect(
      describePolicy(
        policy({ minCohort: 3, classCounts: "noised", classCountSigma: 10, trainingMetrics: "loss" }),
      ),
    ).toBe(
      `privacy policy: rounds of at least 3 sites; class counts noised (Gaussian, σ = 10; ε = ${classCountEpsilon(10).toFixed(2)} at δ = 0.00001 for one image's label); training metrics: loss`,
    );
  });
});
