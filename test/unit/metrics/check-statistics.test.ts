import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../../shared/src/errors.js";
import {
  checkStatistics,
  computeSiteStatistics,
  type EvaluationStatistics,
  poolStatistics,
} from "../../../shared/src/metrics/index.js";
import { expectFlError } from "../../helpers/expect-fl-error.js";
import { synthetic } from "./synthetic.js";

const data = synthetic(120, 4, 41);
const good = computeSiteStatistics({
  ...data,
  bootstrapReplicates: 5,
  validation: synthetic(50, 4, 42),
  segmentation: Array.from({ length: 120 }, () => ({
    images: 1,
    diceSum: 0.5,
    iouSum: 0.25,
    intersection: 3,
    predicted: 4,
    actual: 5,
  })),
});

/** Tests corrupt the statistics field by field, as a hostile site could; types would only get in the way. */
// biome-ignore lint/suspicious/noExplicitAny: see above
type Loose = any;

/** A deep copy of the good statistics with one change. */
function broken(change: (stats: Loose) => void): EvaluationStatistics {
  const copy = structuredClone(good) as Loose;
  change(copy);
  return copy as unknown as EvaluationStatistics;
}

function rejects(change: (stats: Loose) => void, ...fragments: string[]): void {
  expectFlError(() => checkStatistics(broken(change), 4, 120), ErrorCode.InvalidArgument, ...fragments);
}

describe("checkStatistics", () => {
  it("accepts what a site computes and what pooling gives", () => {
    expect(() => checkStatistics(good, 4, 120)).not.toThrow();
    const other = computeSiteStatistics({ ...synthetic(80, 4, 43), bootstrapReplicates: 5 });
    expect(() => checkStatistics(poolStatistics([good, other]), 4, 200)).not.toThrow();
  });

  it("rejects wrong shapes, naming the field, what was expected and what came", () => {
    rejects(
      (s) => {
        s.bins = 300;
      },
      "statistics.bins is 300",
      "a divisor of 1000",
    );
    rejects(
      (s) => {
        s.count = 119;
      },
      "statistics.count is 119",
      "expected 120",
    );
    rejects(
      (s) => {
        s.scores.pop();
      },
      "statistics.scores is a list of 3",
      "a list of 4",
    );
    rejects((s) => {
      s.scores[1].negative.push(0);
    }, "statistics.scores[1].negative is a list of 1001");
    rejects(
      (s) => {
        s.confidence = null;
      },
      "statistics.confidence is null",
      "an object",
    );
    expectFlError(() => checkStatistics(good, 3, 120), ErrorCode.InvalidArgument, "statistics.scores");
  });

  it("rejects counts that are not integers, are negative, or do not add up to the images", () => {
    const firstBin = (s: Loose) => s.scores[0].positive.findIndex((v: number) => v > 0);
    rejects(
      (s) => {
        s.scores[0].positive[firstBin(s)] += 0.5;
      },
      "statistics.scores[0].positive[",
      "an integer count",
    );
    rejects((s) => {
      s.confidence.count[3] = -1;
    }, "statistics.confidence.count[3] is -1");
    rejects(
      (s) => {
        s.scores[2].negative[0] += 1;
      },
      "statistics.scores[2]: positives + negatives is 121",
      "expected 120",
    );
    rejects(
      (s) => {
        const b = s.confidence.count.findIndex((v: number) => v > 0);
        s.confidence.correct[b] = s.confidence.count[b] + 1;
      },
      "statistics.confidence.correct[",
      "at most count[",
    );
  });

  it("rejects sums outside what their bin allows", () => {
    rejects(
      (s) => {
        const b = s.scores[0].positive.findIndex((v: number) => v > 0);
        s.scores[0].scoreSum[b] = 5;
      },
      "statistics.scores[0].scoreSum[",
      "the sum of",
    );
    rejects(
      (s) => {
        s.brierSum = 241;
      },
      "statistics.brierSum is 241",
      "[0, 240]",
    );
    rejects((s) => {
      s.nllSum = Number.NaN;
    }, "statistics.nllSum is NaN");
  });

  it("checks the bootstrap: size, stratification, segmentation", () => {
    rejects(
      (s) => {
        s.bootstrap.replicates = new Array(1001).fill(s.bootstrap.replicates[0]);
      },
      "statistics.bootstrap.replicates is a list of 1001",
      "at most 1000",
    );
    rejects(
      (s) => {
        const row = s.bootstrap.replicates[2].confusion[1];
        row[0] += 1;
        s.bootstrap.replicates[2].confusion[0][0] -= 1;
      },
      "statistics.bootstrap.replicates[2].confusion[0] (images of class 0)",
      "stratified by class",
    );
    rejects((s) => {
      s.bootstrap.replicates[0].segmentation.intersection = 10_000;
    }, "statistics.bootstrap.replicates[0].segmentation.intersection");
    rejects((s) => {
      s.bootstrap.seed = -1;
    }, "statistics.bootstrap.seed is -1");
  });

  it("checks the temperature scan", () => {
    rejects(
      (s) => {
        s.temperature.temperatures[3] = 0;
      },
      "statistics.temperature.temperatures[3] is 0",
      "> 0",
    );
    rejects(
      (s) => {
        s.temperature.test[0].confidence.count.pop();
      },
      "statistics.temperature.test[0].confidence.count is a list of 19",
      "a list of 20",
    );
    rejects((s) => {
      s.temperature.validationNllSum[0] = 1e9;
    }, "statistics.temperature.validationNllSum[0] is 1000000000");
  });
});
