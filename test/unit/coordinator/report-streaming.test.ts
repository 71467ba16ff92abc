import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { summariseEvaluations, summariseVersion } from "../../../coordinator/src/report.js";
import type { EvaluationRecord } from "../../../coordinator/src/store/records.js";
import { StateStore } from "../../../coordinator/src/store/state-store.js";
import { rebin } from "../../../shared/src/metrics/binning.js";
import { computeSiteStatistics, type EvaluationStatistics } from "../../../shared/src/metrics/index.js";
import { synthetic } from "../metrics/synthetic.js";

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** The same images at half the histogram resolution, as a site with fewer bins would send. */
function halved(stats: EvaluationStatistics): EvaluationStatistics {
  const half = stats.bins / 2;
  return {
    ...stats,
    bins: half,
    scores: stats.scores.map((h) => ({
      positive: rebin(h.positive, half),
      negative: rebin(h.negative, half),
      scoreSum: rebin(h.scoreSum, half),
    })),
    confidence: {
      count: rebin(stats.confidence.count, half),
      correct: rebin(stats.confidence.correct, half),
      confidenceSum: rebin(stats.confidence.confidenceSum, half),
    },
  };
}

function record(modelVersion: number, siteId: string, seed: number, mixed = false): EvaluationRecord {
  const data = synthetic(20, 4, seed);
  const stats = computeSiteStatistics({ ...data, bootstrapReplicates: 10, bootstrapSeed: seed });
  const confusion = [0, 1, 2, 3].map(() => [0, 0, 0, 0]);
  for (const [i, label] of data.labels.entries()) {
    const row = Array.from(data.probabilities.subarray(i * 4, i * 4 + 4));
    const cells = confusion[label] as number[];
    const predicted = row.indexOf(Math.max(...row));
    cells[predicted] = (cells[predicted] as number) + 1;
  }
  return {
    round: modelVersion,
    modelVersion,
    siteId,
    split: "test",
    numExamples: 20,
    confusion,
    metrics: { loss: seed / 10 },
    statistics: mixed ? halved(stats) : stats,
    receivedAtMs: seed,
  };
}

it("summarises a version streamed row by row exactly as the whole list, mixed resolutions included", () => {
  dir = mkdtempSync(join(tmpdir(), "fl-report-stream-"));
  const store = StateStore.open(join(dir, "state.db"), { federationId: "f" });
  try {
    // Version 2 has a site of coarser histograms: the fold's second read pools it.
    const records = [
      ...["b", "a", "c", "@central"].map((site, i) => record(1, site, i + 1)),
      ...["a", "b", "c"].map((site, i) => record(2, site, i + 11, site === "b")),
    ];
    for (const r of records) store.recordEvaluation(r);
    expect(store.evaluatedVersions()).toEqual([1, 2]);
    expect(store.evaluatedSites(1)).toEqual(["@central", "a", "b", "c"]);
    expect(store.evaluatedSites(3)).toEqual([]);
    expect(store.listEvaluations(2).map((r) => r.siteId)).toEqual(["a", "b", "c"]);
    expect(store.listEvaluations(1)).toEqual(store.listEvaluations().filter((r) => r.modelVersion === 1));

    const batch = summariseEvaluations(store.listEvaluations());
    const streamed = store
      .evaluatedVersions()
      .map((v) => summariseVersion(v, () => store.iterateEvaluations(v)));
    expect(streamed).toStrictEqual(batch);
    expect(streamed[1]?.statistics?.resolution).toBe(2 / 1000);
    expect(streamed[0]?.central?.siteId).toBe("@central");

    // Without the per-site summaries, everything else is the same.
    const pooledOnly = summariseVersion(1, () => store.iterateEvaluations(1), { siteStatistics: false });
    const { siteStatistics, ...rest } = batch[0] as NonNullable<(typeof batch)[0]>;
    expect(Object.keys(siteStatistics ?? {})).toEqual(["a", "b", "c"]);
    expect(pooledOnly).toStrictEqual(rest);
  } finally {
    store.close();
  }
});
