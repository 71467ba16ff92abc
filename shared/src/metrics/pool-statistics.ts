import { ErrorCode, FlError } from "../errors.js";
import { greatestCommonDivisor, rebin } from "./binning.js";
import type {
  BootstrapReplicate,
  ConfidenceBins,
  EvaluationStatistics,
  ScoreHistogram,
  TemperatureScan,
} from "./evaluation-statistics.js";
import type { SegmentationCounts } from "./segmentation.js";

export { checkStatistics } from "./check-statistics.js";

/**
 * Sums sites' statistics: the result is what one site holding all their images would have sent
 * (counts exactly, sums up to rounding). Replicates are summed index by index, which is a
 * bootstrap stratified by site and class. Sites that disagree degrade gracefully rather than
 * fail a round: histograms are merged at the coarsest common resolution (the gcd of their bin
 * counts, so bins still nest), the bootstrap keeps the replicates every site has (and is dropped
 * when one site has none), and the temperature scan is kept only when every site scanned the
 * same grid. The pooled bootstrap records the first site's seed.
 */
export function poolStatistics(list: readonly EvaluationStatistics[]): EvaluationStatistics {
  const first = list[0];
  if (first === undefined) {
    throw new FlError(ErrorCode.InvalidArgument, "poolStatistics needs at least one site's statistics");
  }
  const k = first.scores.length;
  for (const [s, stats] of list.entries()) {
    if (stats.scores.length !== k) {
      throw new FlError(
        ErrorCode.InvalidArgument,
        `statistics ${s} have ${stats.scores.length} classes, the first have ${k}; every site must use the same classes`,
      );
    }
  }
  const bins = list.reduce((g, stats) => greatestCommonDivisor(g, stats.bins), 0);
  const scores: ScoreHistogram[] = [];
  for (let c = 0; c < k; c++) {
    scores.push({
      positive: sumRebinned(
        list.map((stats) => (stats.scores[c] as ScoreHistogram).positive),
        bins,
      ),
      negative: sumRebinned(
        list.map((stats) => (stats.scores[c] as ScoreHistogram).negative),
        bins,
      ),
      scoreSum: sumRebinned(
        list.map((stats) => (stats.scores[c] as ScoreHistogram).scoreSum),
        bins,
      ),
    });
  }
  const pooled: EvaluationStatistics = {
    bins,
    count: sum(list.map((stats) => stats.count)),
    scores,
    confidence: sumConfidence(
      list.map((stats) => stats.confidence),
      bins,
    ),
    brierSum: sum(list.map((stats) => stats.brierSum)),
    nllSum: sum(list.map((stats) => stats.nllSum)),
  };
  const bootstrap = poolBootstrap(list, k);
  const temperature = poolTemperature(list);
  return {
    ...pooled,
    ...(bootstrap === undefined ? {} : { bootstrap }),
    ...(temperature === undefined ? {} : { temperature }),
  };
}

function poolBootstrap(
  list: readonly EvaluationStatistics[],
  k: number,
): EvaluationStatistics["bootstrap"] | undefined {
  const all = list.map((stats) => stats.bootstrap);
  if (all.some((b) => b === undefined)) return undefined;
  const sites = all as NonNullable<EvaluationStatistics["bootstrap"]>[];
  const replicates = Math.min(...sites.map((b) => b.replicates.length));
  if (replicates === 0) return undefined;
  const bins = sites.reduce((g, b) => greatestCommonDivisor(g, b.bins), 0);
  const out: BootstrapReplicate[] = [];
  for (let r = 0; r < replicates; r++) {
    const parts = sites.map((b) => b.replicates[r] as BootstrapReplicate);
    const confusion = Array.from({ length: k }, (_, t) =>
      Array.from({ length: k }, (_, p) =>
        sum(parts.map((part) => (part.confusion[t] as number[])[p] as number)),
      ),
    );
    const positive = Array.from({ length: k }, (_, c) =>
      sumRebinned(
        parts.map((part) => part.positive[c] as number[]),
        bins,
      ),
    );
    const negative = Array.from({ length: k }, (_, c) =>
      sumRebinned(
        parts.map((part) => part.negative[c] as number[]),
        bins,
      ),
    );
    const segmentations = parts.map((part) => part.segmentation);
    const segmentation = segmentations.every((s) => s !== undefined)
      ? sumSegmentation(segmentations as SegmentationCounts[])
      : undefined;
    out.push({ confusion, positive, negative, ...(segmentation === undefined ? {} : { segmentation }) });
  }
  return { seed: (sites[0] as { seed: number }).seed, bins, replicates: out };
}

function poolTemperature(list: readonly EvaluationStatistics[]): TemperatureScan | undefined {
  const scans = list.map((stats) => stats.temperature);
  const first = scans[0];
  if (first === undefined || scans.some((scan) => scan === undefined)) return undefined;
  const grid = first.temperatures;
  const same = (scan: TemperatureScan): boolean =>
    scan.temperatures.length === grid.length && scan.temperatures.every((t, i) => t === grid[i]);
  if (!(scans as TemperatureScan[]).every(same)) return undefined;
  const all = scans as TemperatureScan[];
  return {
    temperatures: [...grid],
    validationNllSum: grid.map((_, t) => sum(all.map((scan) => scan.validationNllSum[t] as number))),
    validationCount: sum(all.map((scan) => scan.validationCount)),
    test: grid.map((_, t) => {
      const entries = all.map((scan) => scan.test[t] as TemperatureScan["test"][number]);
      return {
        confidence: sumConfidence(
          entries.map((entry) => entry.confidence),
          (entries[0] as TemperatureScan["test"][number]).confidence.count.length,
        ),
        brierSum: sum(entries.map((entry) => entry.brierSum)),
        nllSum: sum(entries.map((entry) => entry.nllSum)),
      };
    }),
  };
}

function sumConfidence(list: readonly ConfidenceBins[], bins: number): ConfidenceBins {
  return {
    count: sumRebinned(
      list.map((c) => c.count),
      bins,
    ),
    correct: sumRebinned(
      list.map((c) => c.correct),
      bins,
    ),
    confidenceSum: sumRebinned(
      list.map((c) => c.confidenceSum),
      bins,
    ),
  };
}

/** Element-wise sum after merging each array down to `bins` (which divides every length). */
function sumRebinned(arrays: ReadonlyArray<ArrayLike<number>>, bins: number): number[] {
  const out = new Array<number>(bins).fill(0);
  for (const array of arrays) {
    const values = array.length === bins ? array : rebin(array, bins);
    for (let b = 0; b < bins; b++) out[b] = (out[b] as number) + (values[b] as number);
  }
  return out;
}

function sumSegmentation(list: readonly SegmentationCounts[]): SegmentationCounts {
  return {
    images: sum(list.map((s) => s.images)),
    diceSum: sum(list.map((s) => s.diceSum)),
    iouSum: sum(list.map((s) => s.iouSum)),
    intersection: sum(list.map((s) => s.intersection)),
    predicted: sum(list.map((s) => s.predicted)),
    actual: sum(list.map((s) => s.actual)),
  };
}

function sum(values: readonly number[]): number {
  let total = 0;
  for (const value of values) total += value;
  return total;
}
