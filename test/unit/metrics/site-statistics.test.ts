import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../../shared/src/errors.js";
import { rebin } from "../../../shared/src/metrics/binning.js";
import {
  BOOTSTRAP_SCORE_BINS,
  computeSiteStatistics,
  type EvaluationStatistics,
  poolStatistics,
  SCORE_BINS,
  summariseStatistics,
} from "../../../shared/src/metrics/index.js";
import { Rng } from "../../../shared/src/random.js";
import { expectFlError } from "../../helpers/expect-fl-error.js";
import { type Synthetic, synthetic } from "./synthetic.js";

function slice(data: Synthetic, start: number, end: number): Synthetic {
  const k = data.numClasses;
  return {
    probabilities: data.probabilities.slice(start * k, end * k),
    labels: data.labels.slice(start, end),
    numClasses: k,
  };
}

function supports(labels: Int32Array, k: number): number[] {
  const out = new Array(k).fill(0);
  for (const label of labels) out[label]++;
  return out;
}

describe("computeSiteStatistics", () => {
  it("puts each image's P(class) in its fine bin, as positive of its class and negative of the others", () => {
    const stats = computeSiteStatistics({
      probabilities: [0.7, 0.2, 0.1, 0.0004, 0.9996, 0, 1 / 3, 1 / 3, 1 / 3],
      labels: [0, 1, 2],
      numClasses: 3,
    });
    expect(stats.bins).toBe(SCORE_BINS);
    expect(stats.count).toBe(3);
    const nonZero = (values: number[]) => values.flatMap((v, b) => (v === 0 ? [] : [[b, v]]));
    expect(nonZero(stats.scores[0]?.positive as number[])).toEqual([[700, 1]]);
    expect(nonZero(stats.scores[0]?.negative as number[])).toEqual([
      [0, 1],
      [333, 1],
    ]);
    expect(nonZero(stats.scores[1]?.positive as number[])).toEqual([[999, 1]]);
    expect(nonZero(stats.scores[2]?.positive as number[])).toEqual([[333, 1]]);
    expect(stats.scores[1]?.scoreSum[999]).toBeCloseTo(0.9996, 15);
    // Top-label: 0.7 right, 0.9996 right, 1/3 (tie, argmax = class 0) wrong.
    expect(nonZero(stats.confidence.count)).toEqual([
      [333, 1],
      [700, 1],
      [999, 1],
    ]);
    expect(nonZero(stats.confidence.correct)).toEqual([
      [700, 1],
      [999, 1],
    ]);
    // Brier: 0.3² + 0.2² + 0.1², 0.0004² + 0.0004² + 0, (1/3)²·2 + (2/3)².
    expect(stats.brierSum).toBeCloseTo(0.14 + 2 * 0.0004 ** 2 + 2 / 9 + 4 / 9, 12);
    expect(stats.nllSum).toBeCloseTo(-Math.log(0.7) - Math.log(0.9996) - Math.log(1 / 3), 12);
    expect(stats.bootstrap).toBeUndefined();
    expect(stats.temperature).toBeUndefined();
  });

  it("clips the NLL of a zero probability at 1e-12", () => {
    const stats = computeSiteStatistics({ probabilities: [1, 0], labels: [1], numClasses: 2 });
    expect(stats.nllSum).toBeCloseTo(-Math.log(1e-12), 12);
  });

  it("rejects bad input with what was wrong", () => {
    const base = { probabilities: [0.5, 0.5], labels: [0], numClasses: 2 };
    expectFlError(
      () => computeSiteStatistics({ ...base, labels: [2] }),
      ErrorCode.InvalidArgument,
      "label at index 0 is 2",
    );
    expectFlError(
      () => computeSiteStatistics({ ...base, probabilities: [0.5, 0.5, 0.5] }),
      ErrorCode.InvalidArgument,
      "3 probabilities do not make 1 rows of 2",
    );
    expectFlError(
      () => computeSiteStatistics({ ...base, probabilities: [Number.NaN, 1] }),
      ErrorCode.InvalidArgument,
      "probability [0][0] is NaN",
    );
    expectFlError(
      () => computeSiteStatistics({ ...base, probabilities: [0.5, 0.6] }),
      ErrorCode.InvalidArgument,
      "row 0 of probabilities sums to 1.1",
    );
    expectFlError(
      () => computeSiteStatistics({ ...base, bootstrapReplicates: 1001 }),
      ErrorCode.InvalidArgument,
      "bootstrapReplicates is 1001",
    );
    expectFlError(
      () =>
        computeSiteStatistics({
          ...base,
          validation: { probabilities: [0.5, 0.5], labels: [0] },
          temperatures: [0],
        }),
      ErrorCode.InvalidArgument,
      "temperatures are [0]",
    );
    expectFlError(
      () =>
        computeSiteStatistics({
          ...base,
          bootstrapReplicates: 2,
          segmentation: [],
        }),
      ErrorCode.InvalidArgument,
      "0 segmentation counts for 1 test images",
    );
  });
});

describe("pooling sites", () => {
  const data = synthetic(900, 4, 21, { tieShare: 0.2 });
  const validation = synthetic(600, 4, 22);
  const cuts = [0, 150, 520, 900];
  const vcuts = [0, 100, 400, 600];
  const sites = [0, 1, 2].map((s) =>
    computeSiteStatistics({
      ...slice(data, cuts[s] as number, cuts[s + 1] as number),
      bootstrapReplicates: 30,
      bootstrapSeed: s,
      validation: slice(validation, vcuts[s] as number, vcuts[s + 1] as number),
    }),
  );
  const pooled = poolStatistics(sites);
  const together = computeSiteStatistics({ ...data, validation });

  it("equals the statistics of the concatenated images: counts exactly, sums to rounding", () => {
    expect(pooled.count).toBe(900);
    expect(pooled.bins).toBe(SCORE_BINS);
    for (let c = 0; c < 4; c++) {
      expect(pooled.scores[c]?.positive).toEqual(together.scores[c]?.positive);
      expect(pooled.scores[c]?.negative).toEqual(together.scores[c]?.negative);
      for (const [b, v] of (pooled.scores[c]?.scoreSum ?? []).entries()) {
        expect(v).toBeCloseTo(together.scores[c]?.scoreSum[b] as number, 10);
      }
    }
    expect(pooled.confidence.count).toEqual(together.confidence.count);
    expect(pooled.confidence.correct).toEqual(together.confidence.correct);
    expect(pooled.brierSum).toBeCloseTo(together.brierSum, 9);
    expect(pooled.nllSum).toBeCloseTo(together.nllSum, 9);
  });

  it("gives identical AUC and AP", () => {
    const a = summariseStatistics(pooled);
    const b = summariseStatistics(together);
    expect(a.auc).toEqual(b.auc);
    expect(a.ap).toEqual(b.ap);
    expect(a.macroAuc).toEqual(b.macroAuc);
    expect(a.roc).toEqual(b.roc);
  });

  it("sums the temperature scans (same grid) like one site's scan", () => {
    const scan = pooled.temperature;
    expect(scan?.validationCount).toBe(600);
    for (const [t, v] of (scan?.validationNllSum ?? []).entries()) {
      expect(v).toBeCloseTo(together.temperature?.validationNllSum[t] as number, 8);
    }
    expect(scan?.test.map((e) => e.confidence.count)).toEqual(
      together.temperature?.test.map((e) => e.confidence.count),
    );
  });

  it("sums replicates index by index: a bootstrap stratified by site", () => {
    const replicates = pooled.bootstrap?.replicates ?? [];
    expect(replicates).toHaveLength(30);
    for (const [r, replicate] of replicates.entries()) {
      for (let t = 0; t < 4; t++) {
        for (let p = 0; p < 4; p++) {
          const sum = sites.reduce(
            (s, site) => s + (site.bootstrap?.replicates[r]?.confusion[t]?.[p] as number),
            0,
          );
          expect(replicate.confusion[t]?.[p]).toBe(sum);
        }
      }
      expect(replicate.confusion.map((row) => row.reduce((a, b) => a + b, 0))).toEqual(
        supports(data.labels, 4),
      );
    }
  });

  it("keeps the common prefix of replicates, drops a bootstrap one site lacks, and a scan whose grids differ", () => {
    const short = computeSiteStatistics({ ...slice(data, 0, 150), bootstrapReplicates: 10 });
    expect(poolStatistics([short, ...sites.slice(1)]).bootstrap?.replicates).toHaveLength(10);
    const none = computeSiteStatistics(slice(data, 0, 150));
    expect(poolStatistics([none, ...sites.slice(1)]).bootstrap).toBeUndefined();
    const otherGrid = computeSiteStatistics({ ...slice(data, 0, 150), validation, temperatures: [1, 2] });
    expect(poolStatistics([otherGrid, ...sites.slice(1)]).temperature).toBeUndefined();
  });

  it("merges sites at different resolutions at the coarsest common one", () => {
    const coarse = (stats: EvaluationStatistics): EvaluationStatistics => ({
      ...stats,
      bins: 500,
      scores: stats.scores.map((h) => ({
        positive: rebin(h.positive, 500),
        negative: rebin(h.negative, 500),
        scoreSum: rebin(h.scoreSum, 500),
      })),
      confidence: {
        count: rebin(stats.confidence.count, 500),
        correct: rebin(stats.confidence.correct, 500),
        confidenceSum: rebin(stats.confidence.confidenceSum, 500),
      },
    });
    const mixed = poolStatistics([coarse(sites[0] as EvaluationStatistics), ...sites.slice(1)]);
    expect(mixed.bins).toBe(500);
    expect(mixed.scores[2]?.positive).toEqual(rebin(together.scores[2]?.positive as number[], 500));
    expect(mixed.confidence.count).toEqual(rebin(together.confidence.count, 500));
  });

  it("refuses sites with different classes", () => {
    const three = computeSiteStatistics({ probabilities: [0.2, 0.3, 0.5], labels: [2], numClasses: 3 });
    expectFlError(
      () => poolStatistics([sites[0] as EvaluationStatistics, three]),
      ErrorCode.InvalidArgument,
      "3 classes",
    );
    expectFlError(() => poolStatistics([]), ErrorCode.InvalidArgument, "at least one");
  });
});

describe("stratified bootstrap", () => {
  const data = synthetic(400, 4, 31, { signal: 1 });
  const run = (seed: number) =>
    computeSiteStatistics({ ...data, bootstrapReplicates: 50, bootstrapSeed: seed });

  it("is deterministic for a seed and changes with it", () => {
    expect(run(5).bootstrap).toEqual(run(5).bootstrap);
    expect(run(5).bootstrap?.replicates[0]?.confusion).not.toEqual(
      run(6).bootstrap?.replicates[0]?.confusion,
    );
    expect(run(5).bootstrap?.seed).toBe(5);
    expect(run(5).bootstrap?.bins).toBe(BOOTSTRAP_SCORE_BINS);
  });

  it("keeps every class's support in every replicate and draws each class only from its own images", () => {
    const expected = supports(data.labels, 4);
    const stats = run(7);
    const occupied = (c: number) => {
      const bins = new Set<number>();
      for (let i = 0; i < data.labels.length; i++) {
        if (data.labels[i] === c)
          bins.add(Math.min(49, Math.floor((data.probabilities[i * 4 + c] as number) * 50)));
      }
      return bins;
    };
    let differs = 0;
    for (const replicate of stats.bootstrap?.replicates ?? []) {
      expect(replicate.confusion.map((row) => row.reduce((a, b) => a + b, 0))).toEqual(expected);
      for (let c = 0; c < 4; c++) {
        const positive = replicate.positive[c] as number[];
        expect(positive.reduce((a, b) => a + b, 0)).toBe(expected[c]);
        expect((replicate.negative[c] as number[]).reduce((a, b) => a + b, 0)).toBe(
          400 - (expected[c] as number),
        );
        const allowed = occupied(c);
        positive.forEach((v, b) => {
          if (v > 0) expect(allowed.has(b)).toBe(true);
        });
      }
      const correct = replicate.confusion.reduce((s, row, t) => s + (row[t] as number), 0);
      if (correct !== stats.confidence.correct.reduce((a, b) => a + b, 0)) differs++;
    }
    // Resampling, not copying: most replicates' accuracy differs from the original's.
    expect(differs).toBeGreaterThan(40);
  });

  it("sums per-image segmentation counts of the drawn images", () => {
    const segmentation = Array.from({ length: 400 }, (_, i) => ({
      images: 1,
      diceSum: (i % 5) / 4,
      iouSum: (i % 5) / 8,
      intersection: i,
      predicted: 2 * i,
      actual: 2 * i + 1,
    }));
    const stats = computeSiteStatistics({ ...data, bootstrapReplicates: 5, segmentation });
    for (const replicate of stats.bootstrap?.replicates ?? []) {
      const s = replicate.segmentation;
      expect(s?.images).toBe(400);
      expect(s?.predicted).toBe(2 * (s?.intersection as number));
      expect(s?.actual).toBe(2 * (s?.intersection as number) + 400);
    }
    const summary = summariseStatistics(stats);
    expect(summary.intervals?.dice?.replicates).toBe(5);
  });

  it("its accuracy interval covers the true accuracy in most repetitions, as wide as the normal approximation", () => {
    const n = 200;
    const accuracy = 0.75;
    const repetitions = 200;
    const rng = new Rng(404);
    let covered = 0;
    let width = 0;
    for (let rep = 0; rep < repetitions; rep++) {
      const probabilities = new Float64Array(n * 4);
      const labels = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const label = rng.int(4);
        const predicted = rng.bool(accuracy) ? label : (label + 1 + rng.int(3)) % 4;
        labels[i] = label;
        for (let c = 0; c < 4; c++) probabilities[i * 4 + c] = c === predicted ? 0.7 : 0.1;
      }
      const summary = summariseStatistics(
        computeSiteStatistics({
          probabilities,
          labels,
          numClasses: 4,
          bootstrapReplicates: 200,
          bootstrapSeed: rep,
        }),
      );
      const interval = summary.intervals?.accuracy;
      if (interval === undefined) throw new Error("no accuracy interval");
      expect(interval.replicates).toBe(200);
      if (interval.low <= accuracy && accuracy <= interval.high) covered++;
      width += (interval.high - interval.low) / repetitions;
    }
    expect(covered / repetitions).toBeGreaterThanOrEqual(0.9);
    const normal = 2 * 1.96 * Math.sqrt((accuracy * (1 - accuracy)) / n);
    expect(Math.abs(width - normal) / normal).toBeLessThan(0.1);
  }, 60_000);

  it("gives intervals for every documented key, estimates from the full statistics or the given confusion", () => {
    const stats = run(9);
    const summary = summariseStatistics(stats);
    const keys = Object.keys(summary.intervals ?? {}).sort();
    const classes = ["atypical", "indeterminate", "negative", "typical"];
    expect(keys).toEqual(
      [
        "accuracy",
        "macroF1",
        "macroAuc",
        "mAP",
        ...classes.flatMap((c) => [`f1.${c}`, `auc.${c}`, `ap.${c}`]),
      ].sort(),
    );
    expect(summary.intervals?.macroAuc?.estimate).toBe(summary.macroAuc?.value);
    const correct = stats.confidence.correct.reduce((a, b) => a + b, 0);
    expect(summary.intervals?.accuracy?.estimate).toBe(correct / 400);
    for (const interval of Object.values(summary.intervals ?? {})) {
      expect(interval.low).toBeLessThanOrEqual(interval.high);
      expect(interval.replicates).toBe(50);
    }
    const confusion = [
      [10, 0, 0, 0],
      [0, 10, 0, 0],
      [0, 0, 10, 0],
      [0, 0, 0, 10],
    ];
    expect(summariseStatistics(stats, { confusion }).intervals?.macroF1?.estimate).toBe(1);
  });
});
