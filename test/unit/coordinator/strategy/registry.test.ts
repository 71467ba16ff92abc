import { describe, expect, it } from "vitest";
import { createFedAvg } from "../../../../coordinator/src/strategy/fedavg.js";
import { createStrategy, StrategyConfigSchema } from "../../../../coordinator/src/strategy/registry.js";
import {
  createFedAdam,
  createFedAvgM,
  createFedYogi,
  hasServerState,
} from "../../../../coordinator/src/strategy/server-optimizers.js";
import type { Strategy } from "../../../../coordinator/src/strategy/strategy.js";
import { createManifest } from "../../../../shared/src/weights/index.js";
import type { ModelWeights } from "../../../../shared/src/weights/types.js";

describe("StrategyConfigSchema", () => {
  it("fills in the documented defaults", () => {
    expect(StrategyConfigSchema.parse({ name: "fedavg" })).toEqual({ name: "fedavg" });
    expect(StrategyConfigSchema.parse({ name: "fedavgm" })).toEqual({
      name: "fedavgm",
      serverLearningRate: 1,
      momentum: 0.9,
    });
    for (const name of ["fedadam", "fedyogi"] as const) {
      expect(StrategyConfigSchema.parse({ name })).toEqual({
        name,
        serverLearningRate: 1e-2,
        beta1: 0.9,
        beta2: 0.99,
        tau: 1e-3,
      });
    }
    expect(StrategyConfigSchema.parse({ name: "fedyogi", tau: 1e-2, beta1: 0 })).toMatchObject({
      tau: 1e-2,
      beta1: 0,
      beta2: 0.99,
    });
  });

  it.each<[string, unknown, string]>([
    ["an unknown strategy", { name: "fedsgd" }, "name"],
    ["an option of another strategy", { name: "fedavg", momentum: 0.9 }, "momentum"],
    ["a misspelt option", { name: "fedadam", beta_1: 0.9 }, "beta_1"],
    ["momentum 1", { name: "fedavgm", momentum: 1 }, "momentum"],
    ["a negative learning rate", { name: "fedyogi", serverLearningRate: -1 }, "serverLearningRate"],
    ["tau 0", { name: "fedadam", tau: 0 }, "tau"],
    ["an infinite tau", { name: "fedadam", tau: Number.POSITIVE_INFINITY }, "tau"],
  ])("rejects %s", (_what, input, fragment) => {
    const result = StrategyConfigSchema.safeParse(input);
    expect(result.success).toBe(false);
    expect(JSON.stringify(result.error?.issues)).toContain(fragment);
  });
});

describe("createStrategy", () => {
  const manifest = createManifest([{ name: "w", shape: [3] }]);
  const start: ModelWeights = { manifest, values: Float32Array.from([0.5, -1, 2]) };
  const deltas = [Float32Array.from([0.3, -0.2, 0.1]), Float32Array.from([-0.1, 0.4, 0.05])];

  /** Two rounds with one update each: enough to tell the strategies and their options apart. */
  function twoRounds(strategy: Strategy): Float32Array {
    let global = start;
    for (const delta of deltas) {
      const aggregation = strategy.beginRound(global);
      aggregation.accept({ siteId: "a", delta, numExamples: 10 });
      global = aggregation.step(aggregation.aggregate()).weights;
    }
    return global.values;
  }

  it.each<[string, unknown, () => Strategy]>([
    ["fedavg", { name: "fedavg" }, () => createFedAvg()],
    ["fedavgm", { name: "fedavgm", momentum: 0.5 }, () => createFedAvgM({ momentum: 0.5 })],
    ["fedadam", { name: "fedadam" }, () => createFedAdam()],
    [
      "fedyogi",
      { name: "fedyogi", serverLearningRate: 0.1, tau: 0.01 },
      () => createFedYogi({ serverLearningRate: 0.1, tau: 0.01 }),
    ],
  ])("builds %s with the configured options", (name, input, direct) => {
    const strategy = createStrategy(StrategyConfigSchema.parse(input));
    expect(strategy.name).toBe(name);
    expect(hasServerState(strategy)).toBe(name !== "fedavg");
    expect(twoRounds(strategy)).toEqual(twoRounds(direct()));
  });

  it("passes options through (different options give different models)", () => {
    const slow = createStrategy(StrategyConfigSchema.parse({ name: "fedadam", serverLearningRate: 1e-3 }));
    const fast = createStrategy(StrategyConfigSchema.parse({ name: "fedadam", serverLearningRate: 1e-1 }));
    expect(twoRounds(slow)).not.toEqual(twoRounds(fast));
  });
});
