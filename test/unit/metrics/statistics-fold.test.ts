import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../../shared/src/errors.js";
import { rebin } from "../../../shared/src/metrics/binning.js";
import {
  computeSiteStatistics,
  DEFAULT_TEMPERATURES,
  type EvaluationStatistics,
  poolStatistics,
} from "../../../shared/src/metrics/index.js";
import { StatisticsFold } from "../../../shared/src/metrics/statistics-fold.js";
import { expectFlError } from "../../helpers/expect-fl-error.js";
import { synthetic } from "./synthetic.js";

/** A site of 24 images with replicates and a temperature scan, as the virtual sites send. */
function site(seed: number, replicates = 20): EvaluationStatistics {
  const test = synthetic(24, 4, seed);
  const validation = synthetic(12, 4, seed + 1000);
  return computeSiteStatistics({
    ...test,
    bootstrapReplicates: replicates,
    bootstrapSeed: seed,
    validation: { probabilities: validation.probabilities, labels: validation.labels },
    temperatures: DEFAULT_TEMPERATURES,
  });
}

function fold(list: readonly EvaluationStatistics[]): ReturnType<StatisticsFold["pooled"]> {
  const f = new StatisticsFold();
  for (const stats of list) f.add(stats);
  return f.pooled();
}

describe("StatisticsFold", () => {
  it("is bit for bit poolStatistics of all the sites when they share a resolution", () => {
    const sites = Array.from({ length: 40 }, (_, s) => site(s + 1, s === 7 ? 12 : 20));
    const folded = fold(sites);
    expect(folded?.mixed).toBe(false);
    // toStrictEqual compares floats exactly: the float sums must be added in the same order.
    expect(folded?.statistics).toStrictEqual(poolStatistics(sites));
    // The site with fewer replicates caps the pool's, as in the batch pool.
    expect(folded?.statistics.bootstrap?.replicates).toHaveLength(12);
    expect(folded?.statistics.count).toBe(40 * 24);
  });

  it("drops the bootstrap and the scan as the batch pool does when one site lacks them", () => {
    const plain = computeSiteStatistics(synthetic(24, 4, 99));
    const sites = [site(1), plain, site(2)];
    const folded = fold(sites);
    expect(folded?.statistics.bootstrap).toBeUndefined();
    expect(folded?.statistics.temperature).toBeUndefined();
    expect(folded?.statistics).toStrictEqual(poolStatistics(sites));
  });

  it("says 'mixed' for sites of different resolutions, whose counts it still pools exactly", () => {
    const coarse = site(3);
    const coarser: EvaluationStatistics = {
      ...coarse,
      bins: 500,
      scores: coarse.scores.map((h) => ({
        positive: rebin(h.positive, 500),
        negative: rebin(h.negative, 500),
        scoreSum: rebin(h.scoreSum, 500),
      })),
      confidence: {
        count: rebin(coarse.confidence.count, 500),
        correct: rebin(coarse.confidence.correct, 500),
        confidenceSum: rebin(coarse.confidence.confidenceSum, 500),
      },
    };
    const sites = [site(1), coarser, site(2)];
    const folded = fold(sites);
    const batch = poolStatistics(sites);
    expect(folded?.mixed).toBe(true);
    expect(folded?.statistics.bins).toBe(500);
    expect(folded?.statistics.scores.map((h) => h.positive)).toStrictEqual(
      batch.scores.map((h) => h.positive),
    );
    expect(folded?.statistics.confidence.count).toStrictEqual(batch.confidence.count);
  });

  it("has no pool before the first site and refuses a site of other classes", () => {
    const f = new StatisticsFold();
    expect(f.pooled()).toBeUndefined();
    f.add(site(1));
    const three = computeSiteStatistics(synthetic(10, 3, 5));
    expectFlError(() => f.add(three), ErrorCode.InvalidArgument, "3 classes, the first have 4");
  });
});
