import { describe, expect, it } from "vitest";
import { renderMarkdownReport, summariseEvaluations } from "../../../coordinator/src/report.js";
import type { EvaluationRecord } from "../../../coordinator/src/store/records.js";
import { confusionMatrix, rocAuc } from "../../../shared/src/metrics/index.js";
import { computeSiteStatistics } from "../../../shared/src/metrics/site-statistics.js";
import { Rng } from "../../../shared/src/random.js";

/** A site's record: noisy softmax scores leaning towards the truth, with its statistics. */
function siteRecord(siteId: string, n: number, seed: number, withStatistics = true) {
  const rng = new Rng(seed);
  const labels = Array.from({ length: n }, (_, i) => i % 4);
  const probabilities = new Float32Array(n * 4);
  labels.forEach((label, i) => {
    const logits = [0, 1, 2, 3].map((c) => (c === label ? 1 : 0) + 2 * rng.next());
    const total = logits.reduce((a, l) => a + Math.exp(l), 0);
    for (const [c, l] of logits.entries()) probabilities[i * 4 + c] = Math.exp(l) / total;
  });
  const predicted = labels.map((_, i) => {
    const row = Array.from(probabilities.subarray(i * 4, i * 4 + 4));
    return row.indexOf(Math.max(...row));
  });
  const record: EvaluationRecord = {
    round: 2,
    modelVersion: 2,
    siteId,
    split: "test",
    numExamples: n,
    confusion: confusionMatrix(labels, predicted, 4),
    metrics: { macroAuc: seed / 10, mAP: seed / 20 },
    receivedAtMs: 1,
    ...(withStatistics && {
      statistics: computeSiteStatistics({
        probabilities,
        labels,
        numClasses: 4,
        bootstrapReplicates: 30,
        bootstrapSeed: seed,
      }),
    }),
  };
  return { record, labels, probabilities };
}

describe("the evaluation summary", () => {
  it("pools the sites' statistics, keeps the coordinator's own evaluation apart", () => {
    const a = siteRecord("a", 120, 1);
    const b = siteRecord("b", 80, 2);
    const central = siteRecord("@central", 40, 3);
    const [summary] = summariseEvaluations([a.record, central.record, b.record]);
    expect(summary!.pooled.count).toBe(200);
    expect(Object.keys(summary!.perSite)).toEqual(["a", "b"]);
    expect(Object.keys(summary!.siteStatistics ?? {})).toEqual(["a", "b"]);
    expect(Object.keys(summary!.siteMetrics)).toEqual(["a", "b"]);
    expect(summary!.rankingSource).toBe("pooled");
    expect(summary!.statistics?.count).toBe(200);
    expect(summary!.central).toMatchObject({ siteId: "@central", round: 2, report: { count: 40 } });
    expect(summary!.central?.statistics?.count).toBe(40);

    // Against the exact AUC of the two sites' scores concatenated (the central images left out).
    const labels = [...a.labels, ...b.labels];
    const probabilities = [...a.probabilities, ...b.probabilities];
    for (const [c, key] of ["negative", "typical", "indeterminate", "atypical"].entries()) {
      const exact = rocAuc(
        labels.map((_, i) => probabilities[i * 4 + c] as number),
        labels.map((l) => l === c),
      );
      const bound = summary!.statistics!.auc[c]!.errorBound;
      expect(Math.abs(summary!.ranking![`auc.${key}`]! - exact)).toBeLessThanOrEqual(bound + 1e-12);
    }
    expect(summary!.ranking!.macroAuc).toBe(summary!.statistics!.macroAuc!.value);
    // Not the image-weighted mean of the sites' own values (0.1·120 + 0.2·80) / 200 = 0.14.
    expect(summary!.ranking!.macroAuc).not.toBeCloseTo(0.14, 3);
  });

  it("falls back to the site-weighted mean, and says so, when a site sent no statistics", () => {
    const a = siteRecord("a", 120, 1);
    const b = siteRecord("b", 80, 2, false);
    const [summary] = summariseEvaluations([a.record, b.record]);
    expect(summary!.rankingSource).toBe("site-weighted");
    expect(summary!.statistics).toBeUndefined();
    expect(Object.keys(summary!.siteStatistics ?? {})).toEqual(["a"]);
    expect(summary!.ranking!.macroAuc).toBeCloseTo((0.1 * 120 + 0.2 * 80) / 200, 12);
    expect(summary!.ranking!.mAP).toBeCloseTo((0.05 * 120 + 0.1 * 80) / 200, 12);
  });

  it("summarises a version only the coordinator evaluated without inventing site results", () => {
    const [summary] = summariseEvaluations([siteRecord("@central", 40, 3).record]);
    expect(summary!.pooled.count).toBe(0);
    expect(summary!.perSite).toEqual({});
    expect(summary!.ranking).toBeUndefined();
    expect(summary!.central?.report.count).toBe(40);
  });

  it("prints AUC, mAP, ECE and Brier with intervals, and the binning's bound once", () => {
    const summaries = summariseEvaluations([siteRecord("a", 120, 1).record, siteRecord("b", 80, 2).record]);
    const final = summaries[0]!;
    const text = renderMarkdownReport({
      federationId: "f",
      rounds: [],
      final,
      sites: [],
      completedAt: "now",
    });
    const st = final.statistics!;
    const interval = st.intervals!.macroAuc!;
    expect(text).toContain(
      `| **pooled** | ${st.macroAuc!.value.toFixed(3)} [${interval.low.toFixed(3)}, ${interval.high.toFixed(3)}] |`,
    );
    expect(text).toContain(`| ${st.ece.toFixed(3)} | ${st.brier.toFixed(3)} | 200 |`);
    expect(text.match(/Binned at 0\.001: AUC within ±/g)).toHaveLength(1);
    expect(text).toContain("30 replicates");
  });
});
