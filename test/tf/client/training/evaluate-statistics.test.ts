import { beforeAll, describe, expect, it } from "vitest";
import { evaluateTask } from "../../../../client/src/training/evaluate.js";
import { evaluateClassifier, trainClassifier } from "../../../../client/src/training/local-training.js";
import { NetworkCache } from "../../../../client/src/training/network-cache.js";
import type { TrainerSite } from "../../../../client/src/training/tasks/index.js";
import type { SmallCnnSpec } from "../../../../shared/src/fl/model-spec.js";
import { buildEvaluateTask } from "../../../../shared/src/fl/task.js";
import { averagePrecision, rocAuc } from "../../../../shared/src/metrics/index.js";
import { poolStatistics } from "../../../../shared/src/metrics/pool-statistics.js";
import { computeSiteStatistics } from "../../../../shared/src/metrics/site-statistics.js";
import { summariseStatistics } from "../../../../shared/src/metrics/summarise-statistics.js";
import { buildModel, manifestOf, readWeights, writeWeights } from "../../../../shared/src/ml/model/index.js";
import { initBackend } from "../../../../shared/src/ml/tf/backend.js";
import { deriveSeed } from "../../../../shared/src/random.js";
import type { ModelWeights } from "../../../../shared/src/weights/types.js";
import { toyImageSet } from "../../../helpers/synthetic-images.js";

/**
 * A real evaluation on two sites of tiny images: the statistics the sites send, pooled at the
 * coordinator, give the AUC and AP of the concatenated per-image scores within the stated bound.
 */

const SPEC: SmallCnnSpec = { architecture: "small-cnn", imageSize: 16, widths: [4], numClasses: 4, seed: 5 };

let sites: TrainerSite[];
let weights: ModelWeights;
beforeAll(async () => {
  const backend = await initBackend({ prefer: "wasm", log: () => {} });
  const images = (seed: number, count: number) => toyImageSet({ count, size: 16, seed });
  sites = [0, 1].map((s) => ({
    backend,
    data: {
      siteId: `s${s}`,
      train: images(10 + s, 8),
      val: images(20 + s, 12),
      test: images(30 + s, s === 0 ? 40 : 28),
    },
    networks: new NetworkCache(),
  }));
  // A few real training steps spread the scores over many fine bins, as a trained model's are
  // (an untrained one puts every image near 0.25, in a handful of bins, and the bound is loose).
  const model = buildModel(SPEC);
  await trainClassifier(backend.tf, model, toyImageSet({ count: 32, size: 16, seed: 9 }), {
    hyper: { epochs: 4, batchSize: 8, learningRate: 0.02, classWeighting: "none", maxStepsPerRound: 0 },
    numClasses: 4,
    seed: 1,
  });
  weights = readWeights(model, manifestOf(model));
  model.dispose();
});

/** Each site's test probabilities, straight from the model (what never leaves a site). */
async function scoresOf(site: TrainerSite, split: "test" | "val" = "test") {
  const model = buildModel(SPEC);
  writeWeights(model, weights);
  const scored = await evaluateClassifier(site.backend.tf, model, site.data[split], { numClasses: 4 });
  model.dispose();
  return scored;
}

describe("a site's evaluation statistics", () => {
  it("pool over sites to the AUC and AP of the concatenated scores, within the binning's bound", async () => {
    const task = buildEvaluateTask({ model: SPEC, bootstrap: 20, seed: 3 });
    const outcomes = await Promise.all(
      sites.map((site, i) => evaluateTask(site, task, weights, { siteId: `s${i}` })),
    );
    const pooled = summariseStatistics(poolStatistics(outcomes.map((o) => o.statistics!)));

    const scored = await Promise.all(sites.map((site) => scoresOf(site)));
    const probabilities = new Float32Array(scored.flatMap((s) => Array.from(s.probabilities)));
    const labels = scored.flatMap((s) => Array.from(s.labels));
    expect(pooled.count).toBe(68);
    let compared = 0;
    for (let c = 0; c < 4; c++) {
      const score = labels.map((_, i) => probabilities[i * 4 + c] as number);
      const positive = labels.map((l) => l === c);
      const auc = pooled.auc[c]!;
      const ap = pooled.ap[c]!;
      expect(Math.abs(auc.value - rocAuc(score, positive))).toBeLessThanOrEqual(auc.errorBound + 1e-12);
      expect(Math.abs(ap.value - averagePrecision(score, positive))).toBeLessThanOrEqual(
        ap.errorBound + 1e-12,
      );
      // The bound is tight enough to mean something (confident scores share the end bins).
      expect(auc.errorBound).toBeLessThan(0.15);
      compared++;
    }
    expect(compared).toBe(4);
    expect(pooled.intervals?.macroAuc?.replicates).toBe(20);
  });

  it("are the site's probabilities' statistics, resampled with a seed of the task and the site", async () => {
    const task = buildEvaluateTask({ model: SPEC, bootstrap: 7, seed: 11, temperatureScaling: true });
    const outcome = await evaluateTask(sites[1]!, task, weights, { siteId: "s1" });
    const test = await scoresOf(sites[1]!);
    const val = await scoresOf(sites[1]!, "val");
    expect(outcome.statistics).toEqual(
      computeSiteStatistics({
        probabilities: test.probabilities,
        labels: test.labels,
        numClasses: 4,
        bootstrapReplicates: 7,
        bootstrapSeed: deriveSeed(11, "bootstrap", "s1"),
        validation: { probabilities: val.probabilities, labels: val.labels },
      }),
    );
    expect(outcome.statistics?.bootstrap?.seed).toBe(deriveSeed(11, "bootstrap", "s1"));
    expect(outcome.statistics?.temperature?.validationCount).toBe(12);
    // Another site with the same task draws other resamples.
    const other = await evaluateTask(sites[0]!, task, weights, { siteId: "s0" });
    expect(other.statistics?.bootstrap?.seed).not.toBe(outcome.statistics?.bootstrap?.seed);
  });

  it("give the small CNN its exact AUC and mAP among the site's metrics", async () => {
    const outcome = await evaluateTask(sites[0]!, buildEvaluateTask({ model: SPEC, bootstrap: 0 }), weights, {
      siteId: "s0",
    });
    const { probabilities, labels } = await scoresOf(sites[0]!);
    const score = (c: number) => Array.from(labels, (_, i) => probabilities[i * 4 + c] as number);
    const aucs = [0, 1, 2, 3].map((c) =>
      rocAuc(
        score(c),
        Array.from(labels, (l) => l === c),
      ),
    );
    const aps = [0, 1, 2, 3].map((c) =>
      averagePrecision(
        score(c),
        Array.from(labels, (l) => l === c),
      ),
    );
    expect(outcome.metrics["auc.negative"]).toBeCloseTo(aucs[0]!, 12);
    expect(outcome.metrics.macroAuc).toBeCloseTo(aucs.reduce((a, b) => a + b) / 4, 12);
    expect(outcome.metrics.mAP).toBeCloseTo(aps.reduce((a, b) => a + b) / 4, 12);
    expect(outcome.statistics?.bootstrap).toBeUndefined();
  });
});
