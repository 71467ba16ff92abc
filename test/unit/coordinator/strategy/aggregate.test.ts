import { describe, expect, it } from "vitest";
import { createFedAvg } from "../../../../coordinator/src/strategy/fedavg.js";
import { createFedAvgM } from "../../../../coordinator/src/strategy/server-optimizers.js";
import type { RoundAggregate, Strategy } from "../../../../coordinator/src/strategy/strategy.js";
import { ErrorCode } from "../../../../shared/src/errors.js";
import { createManifest } from "../../../../shared/src/weights/index.js";
import type { ModelWeights } from "../../../../shared/src/weights/types.js";
import { expectFlError } from "../../../helpers/expect-fl-error.js";

const global: ModelWeights = {
  manifest: createManifest([{ name: "w", shape: [2] }]),
  values: Float32Array.from([1, -1]),
};

/** Deltas 1, 2, 4 with 10, 30, 60 examples: (10 + 60 + 240) / 100 = 3.1 in every element. */
function threeSites(strategy: Strategy) {
  const aggregation = strategy.beginRound(global);
  for (const [siteId, delta, numExamples] of [
    ["a", 1, 10],
    ["b", 2, 30],
    ["c", 4, 60],
  ] as const) {
    aggregation.accept({ siteId, delta: Float32Array.of(delta, delta), numExamples });
  }
  return aggregation;
}

const halved = (aggregate: RoundAggregate): RoundAggregate => ({
  ...aggregate,
  meanDelta: aggregate.meanDelta.map((v) => v / 2),
});

describe("a round's aggregate, before the server step", () => {
  it("is the example-weighted mean delta with its count and examples", () => {
    const aggregate = threeSites(createFedAvg()).aggregate();
    expect(Array.from(aggregate.meanDelta)).toEqual([Math.fround(3.1), Math.fround(3.1)]);
    expect(aggregate).toMatchObject({ count: 3, totalExamples: 100 });
  });

  it("is what FedAvg's step adds to the global model, also when transformed", () => {
    const fedAvg = threeSites(createFedAvg());
    expect(Array.from(fedAvg.step(fedAvg.aggregate()).weights.values)).toEqual([
      Math.fround(1 + Math.fround(3.1)),
      Math.fround(-1 + Math.fround(3.1)),
    ]);
    const transformed = threeSites(createFedAvg());
    const { weights, metrics } = transformed.step(halved(transformed.aggregate()));
    expect(Array.from(weights.values)).toEqual([
      Math.fround(1 + Math.fround(1.55)),
      Math.fround(-1 + Math.fround(1.55)),
    ]);
    expect(metrics.totalExamples).toBe(100);
    expect(metrics.updateNorm).toBeCloseTo(Math.SQRT2 * 1.55, 5);
  });

  it("is the pseudo-gradient a server optimiser steps with, also when transformed", () => {
    // FedAvgM, β = 0.5, η = 1: m₁ = Δ'₁ = 1.55; m₂ = 0.5·1.55 + 3.1 = 3.875.
    const strategy = createFedAvgM({ momentum: 0.5 });
    const first = threeSites(strategy);
    const afterFirst = first.step(halved(first.aggregate()));
    expect(afterFirst.weights.values[0]).toBeCloseTo(1 + 1.55, 5);
    const second = strategy.beginRound(afterFirst.weights);
    second.accept({ siteId: "a", delta: Float32Array.of(3.1, 3.1), numExamples: 1 });
    expect(second.step(second.aggregate()).weights.values[0]).toBeCloseTo(1 + 1.55 + 3.875, 5);
  });

  it("must keep the global model's layout", () => {
    for (const strategy of [createFedAvg(), createFedAvgM()]) {
      const aggregation = threeSites(strategy);
      expectFlError(
        () => aggregation.step({ ...aggregation.aggregate(), meanDelta: new Float32Array(3) }),
        ErrorCode.Internal,
        "3 values",
      );
    }
  });
});
