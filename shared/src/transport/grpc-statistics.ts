import type * as wire from "../../../proto/gen/fl/v1/federation.js";
import type {
  BootstrapReplicate,
  ConfidenceBins,
  EvaluationStatistics,
} from "../metrics/evaluation-statistics.js";
import type { SegmentationCounts } from "../metrics/segmentation.js";

/**
 * Evaluation statistics to and from their protobuf form, for both ends of the wire (the client
 * sends them, the coordinator reads them). Nested [class][bin] tables travel row-major in one
 * packed field and are cut back into rows by the widths the message states; nothing is dropped
 * or padded, so that the one shape check (checkStatistics, on receipt) sees what arrived.
 */

export function statisticsToWire(stats: EvaluationStatistics): wire.EvaluationStatistics {
  const { bootstrap, temperature } = stats;
  return {
    bins: stats.bins,
    count: stats.count,
    scores: stats.scores.map((h) => ({
      positive: [...h.positive],
      negative: [...h.negative],
      scoreSum: [...h.scoreSum],
    })),
    confidence: confidenceToWire(stats.confidence),
    brierSum: stats.brierSum,
    nllSum: stats.nllSum,
    ...(bootstrap && {
      bootstrap: {
        seed: bootstrap.seed,
        bins: bootstrap.bins,
        replicates: bootstrap.replicates.map(replicateToWire),
      },
    }),
    ...(temperature && {
      temperature: {
        temperatures: [...temperature.temperatures],
        validationNllSum: [...temperature.validationNllSum],
        validationCount: temperature.validationCount,
        test: temperature.test.map((t) => ({
          confidence: confidenceToWire(t.confidence),
          brierSum: t.brierSum,
          nllSum: t.nllSum,
        })),
      },
    }),
  };
}

/** `numClasses` is the report's (the width of its confusion matrix). */
export function statisticsFromWire(
  stats: wire.EvaluationStatistics,
  numClasses: number,
): EvaluationStatistics {
  const { bootstrap, temperature } = stats;
  return {
    bins: stats.bins,
    count: stats.count,
    scores: stats.scores.map((h) => ({
      positive: [...h.positive],
      negative: [...h.negative],
      scoreSum: [...h.scoreSum],
    })),
    confidence: confidenceFromWire(stats.confidence),
    brierSum: stats.brierSum,
    nllSum: stats.nllSum,
    ...(bootstrap && {
      bootstrap: {
        seed: bootstrap.seed,
        bins: bootstrap.bins,
        replicates: bootstrap.replicates.map((r) => replicateFromWire(r, numClasses, bootstrap.bins)),
      },
    }),
    ...(temperature && {
      temperature: {
        temperatures: [...temperature.temperatures],
        validationNllSum: [...temperature.validationNllSum],
        validationCount: temperature.validationCount,
        test: temperature.test.map((t) => ({
          confidence: confidenceFromWire(t.confidence),
          brierSum: t.brierSum,
          nllSum: t.nllSum,
        })),
      },
    }),
  };
}

function confidenceToWire(c: ConfidenceBins): wire.ConfidenceBins {
  return { count: [...c.count], correct: [...c.correct], confidenceSum: [...c.confidenceSum] };
}

/** An absent message reads as empty bins, which the shape check then refuses by name. */
function confidenceFromWire(c: wire.ConfidenceBins | undefined): ConfidenceBins {
  return {
    count: [...(c?.count ?? [])],
    correct: [...(c?.correct ?? [])],
    confidenceSum: [...(c?.confidenceSum ?? [])],
  };
}

function replicateToWire(r: BootstrapReplicate): wire.BootstrapReplicate {
  return {
    confusion: r.confusion.flat(),
    positive: r.positive.flat(),
    negative: r.negative.flat(),
    ...(r.segmentation && { segmentation: segmentationToWire(r.segmentation) }),
  };
}

function replicateFromWire(r: wire.BootstrapReplicate, numClasses: number, bins: number): BootstrapReplicate {
  return {
    confusion: rows(r.confusion, numClasses),
    positive: rows(r.positive, bins),
    negative: rows(r.negative, bins),
    ...(r.segmentation && { segmentation: segmentationFromWire(r.segmentation) }),
  };
}

function segmentationToWire(s: SegmentationCounts): wire.SegmentationCounts {
  return {
    images: s.images,
    diceSum: s.diceSum,
    iouSum: s.iouSum,
    intersection: s.intersection,
    predicted: s.predicted,
    actual: s.actual,
  };
}

function segmentationFromWire(s: wire.SegmentationCounts): SegmentationCounts {
  return {
    images: s.images,
    diceSum: s.diceSum,
    iouSum: s.iouSum,
    intersection: s.intersection,
    predicted: s.predicted,
    actual: s.actual,
  };
}

/** Row-major cells as rows of `width`; a last short row is kept short (the check names it). */
export function rows(cells: readonly number[], width: number): number[][] {
  if (width <= 0) return cells.length === 0 ? [] : [[...cells]];
  const out: number[][] = [];
  for (let i = 0; i < cells.length; i += width) out.push(cells.slice(i, i + width));
  return out;
}
