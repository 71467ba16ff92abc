import { describe, expect, it } from "vitest";
import { PlanSchema } from "../../../../coordinator/src/plan.js";
import { createKrum, krumScores } from "../../../../coordinator/src/strategy/krum.js";
import { createMedian } from "../../../../coordinator/src/strategy/median.js";
import { createStrategy, StrategyConfigSchema } from "../../../../coordinator/src/strategy/registry.js";
import type { Strategy, UpdateContribution } from "../../../../coordinator/src/strategy/strategy.js";
import { createTrimmedMean } from "../../../../coordinator/src/strategy/trimmed-mean.js";
import { ErrorCode } from "../../../../shared/src/errors.js";
import { createManifest } from "../../../../shared/src/weights/index.js";
import type { ModelWeights } from "../../../../shared/src/weights/types.js";
import { expectFlError } from "../../../helpers/expect-fl-error.js";

const global: ModelWeights = {
  manifest: createManifest([{ name: "w", shape: [2] }]),
  values: Float32Array.from([1, -1]),
};

/** Site k sends deltas[k]; example counts differ, to show they do not weigh. */
function round(strategy: Strategy, deltas: readonly (readonly [number, number])[]) {
  const aggregation = strategy.beginRound(global);
  deltas.forEach((delta, k) => {
    aggregation.accept({ siteId: `s${k}`, delta: Float32Array.from(delta), numExamples: 10 * (k + 1) });
  });
  return aggregation;
}

const aggregateOf = (strategy: Strategy, deltas: readonly (readonly [number, number])[]) =>
  Array.from(round(strategy, deltas).aggregate().meanDelta);

describe("the coordinate-wise median", () => {
  it("takes the middle value of each coordinate for an odd number of sites", () => {
    // Coordinate 0: 1, 3, 100 → 3; coordinate 1: 5, -2, 0 → 0.
    const aggregation = round(createMedian(), [
      [1, 5],
      [3, -2],
      [100, 0],
    ]);
    const aggregate = aggregation.aggregate();
    expect(Array.from(aggregate.meanDelta)).toEqual([3, 0]);
    expect(aggregate).toMatchObject({ count: 3, totalExamples: 60 });
    expect(Array.from(aggregation.step(aggregate).weights.values)).toEqual([4, -1]);
  });

  it("averages the two middle values for an even number", () => {
    // Sorted: 1, 2, 3, 100 → 2.5; -2, 0, 1, 5 → 0.5.
    expect(
      aggregateOf(createMedian(), [
        [1, 5],
        [3, -2],
        [100, 0],
        [2, 1],
      ]),
    ).toEqual([2.5, 0.5]);
  });

  it("refuses an update laid out over other tensors, and a round with none", () => {
    const aggregation = createMedian().beginRound(global);
    expectFlError(
      () => aggregation.accept({ siteId: "a", delta: Float32Array.of(1), numExamples: 1 }),
      ErrorCode.WeightsShapeMismatch,
      "1 values",
    );
    expectFlError(() => aggregation.aggregate(), ErrorCode.FailedPrecondition);
  });
});

describe("the coordinate-wise trimmed mean", () => {
  const five: [number, number][] = [
    [4, 2],
    [100, -50],
    [1, 0],
    [3, 3],
    [2, 1],
  ];

  it("drops ⌊β·n⌋ values from each end of every coordinate", () => {
    // β = 0.2, n = 5: one from each end; 2, 3, 4 → 3 and 0, 1, 2 → 1.
    expect(aggregateOf(createTrimmedMean({ trimFraction: 0.2 }), five)).toEqual([3, 1]);
    // β = 0.4: two from each end, only the median is left: 3 and 1.
    expect(aggregateOf(createTrimmedMean({ trimFraction: 0.4 }), five)).toEqual([3, 1]);
  });

  it("drops nothing while β·n < 1, and is then the unweighted mean", () => {
    // β = 0.1, n = 5: ⌊0.5⌋ = 0; (4 + 100 + 1 + 3 + 2) / 5 = 22 and (2 − 50 + 0 + 3 + 1) / 5 = −8.8.
    expect(aggregateOf(createTrimmedMean({ trimFraction: 0.1 }), five)).toEqual([22, Math.fround(-8.8)]);
  });

  it("trims ⌊0.25 · 10⌋ = 2 from each end of ten sites", () => {
    const ten = Array.from({ length: 10 }, (_, k) => [k + 1, -(k + 1)] as const);
    // 3 … 8 are kept: 5.5.
    expect(aggregateOf(createTrimmedMean({ trimFraction: 0.25 }), ten)).toEqual([5.5, -5.5]);
  });

  it("refuses a trim fraction outside [0, 0.5)", () => {
    expectFlError(() => createTrimmedMean({ trimFraction: 0.5 }), ErrorCode.InvalidArgument, "[0, 0.5)");
    expect(StrategyConfigSchema.safeParse({ name: "trimmed-mean", trimFraction: 0.5 }).success).toBe(false);
    expect(StrategyConfigSchema.safeParse({ name: "trimmed-mean", trimFraction: -0.1 }).success).toBe(false);
  });
});

describe("Krum and multi-Krum", () => {
  // Five sites on one axis: 0, 1, 2, 4, 10. With f = 1 each score sums the n − f − 2 = 2 smallest
  // squared distances to the others:
  //   0: {1, 4, 16, 100} → 5;  1: {1, 1, 9, 81} → 2;  2: {4, 1, 4, 64} → 5;
  //   4: {16, 9, 4, 36} → 13;  10: {100, 81, 64, 36} → 100.
  const five: [number, number][] = [
    [0, 0],
    [1, 0],
    [2, 0],
    [4, 0],
    [10, 0],
  ];
  const contributions: UpdateContribution[] = five.map((d, k) => ({
    siteId: `s${k}`,
    delta: Float32Array.from(d),
    numExamples: 1,
  }));

  it("scores each update by its nearest n − f − 2 neighbours", () => {
    expect(krumScores(contributions, 1)).toEqual([5, 2, 5, 13, 100]);
  });

  it("takes the lowest-scoring update (Krum) or the mean of the m lowest (multi-Krum)", () => {
    const krum = round(createKrum({ byzantine: 1, select: 1 }), five).aggregate();
    expect(Array.from(krum.meanDelta)).toEqual([1, 0]);
    // The selected site's examples only (site s1 reported 20).
    expect(krum).toMatchObject({ count: 5, totalExamples: 20 });
    // m = 2: scores 2 and a tie at 5, which goes to the earlier update: (1 + 0) / 2.
    expect(aggregateOf(createKrum({ byzantine: 1, select: 2 }), five)).toEqual([0.5, 0]);
    // m = 4 = n − f: unweighted (1 + 0 + 2 + 4) / 4.
    expect(aggregateOf(createKrum({ byzantine: 1, select: 4 }), five)).toEqual([1.75, 0]);
  });

  it("needs n > 2f + 2 updates and m ≤ n − f, with a clear error", () => {
    expectFlError(
      () => round(createKrum({ byzantine: 1, select: 1 }), five.slice(0, 4)).aggregate(),
      ErrorCode.FailedPrecondition,
      "tolerating 1 attackers needs more than 4 updates (n > 2f + 2); this round has 4",
    );
    expectFlError(
      () => round(createKrum({ byzantine: 1, select: 5 }), five).aggregate(),
      ErrorCode.FailedPrecondition,
      "selecting 5 updates with 1 attackers needs at least 6 updates",
    );
    expectFlError(() => createKrum({ byzantine: -1, select: 1 }), ErrorCode.InvalidArgument, "byzantine");
    expectFlError(() => createKrum({ byzantine: 1, select: 0 }), ErrorCode.InvalidArgument, "select");
  });

  it("is refused in a plan whose rounds may have too few sites for it", () => {
    const phases = [{ name: "p", task: "classify", rounds: 1 }];
    const strategy = { name: "krum", byzantine: 2, select: 3 };
    const refused = PlanSchema.safeParse({ phases, minSites: 6, strategy });
    expect(refused.success).toBe(false);
    expect(refused.error?.issues[0]?.message).toContain("needs minSites ≥ 7");
    expect(PlanSchema.safeParse({ phases, minSites: 7, strategy }).success).toBe(true);
  });
});

describe("the registry", () => {
  it("builds the robust strategies with their documented defaults", () => {
    expect(StrategyConfigSchema.parse({ name: "median" })).toEqual({ name: "median" });
    expect(StrategyConfigSchema.parse({ name: "trimmed-mean" })).toEqual({
      name: "trimmed-mean",
      trimFraction: 0.1,
    });
    expect(StrategyConfigSchema.parse({ name: "krum", byzantine: 1 })).toEqual({
      name: "krum",
      byzantine: 1,
      select: 1,
    });
    // f is the operator's threat model: there is no default.
    expect(StrategyConfigSchema.safeParse({ name: "krum" }).success).toBe(false);
    for (const config of [
      { name: "median" },
      { name: "trimmed-mean" },
      { name: "krum", byzantine: 1, select: 2 },
    ] as const)
      expect(createStrategy(StrategyConfigSchema.parse(config)).name).toBe(config.name);
  });
});
